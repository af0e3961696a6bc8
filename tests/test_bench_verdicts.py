"""bench/verdicts.py --quick: the verdicts' error-rate and power tables print, and the moderated test finds what is there."""

from __future__ import annotations

import re

import pytest

from bench import verdicts


@pytest.mark.slow
def test_quick_tables_print_and_the_random_search_is_decided(capsys: pytest.CaptureFixture[str]) -> None:
    assert verdicts.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for title in ("1. False 'worse'", "2. Power", "3. Random searches"):
        assert title in out
    search = re.search(r"\| 300 x 5 seeds \(#1\) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", out)
    assert search and float(search[3]) >= 80 > float(search[2])  # after: most far-behind ones found; before: few
