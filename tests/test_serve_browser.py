"""The live page in a real browser: Debian's chromium (scripts/install-browser.sh), driven by
Playwright pointed at that executable (Playwright's own browser download is never used).
The page loads with no console error, then follows the results folder without a reload: a
row appended to trials.csv appears in the table, a running seed's new epoch in its curve.

Without chromium the test is skipped, unless the CI variable is set: in CI a missing
browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

from live_server import running  # noqa: E402
from synthetic_results import write_live, write_progress, write_results  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (run scripts/install-browser.sh); in CI this test must run",
)


@pytest.fixture
def page():
    assert CHROMIUM is not None, "chromium is missing in CI: scripts/install-browser.sh must run first"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.errors, page.loads = [], []
        page.on("load", lambda _: page.loads.append(1))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("requestfailed", lambda r: page.errors.append(f"request failed: {r.url} ({r.failure})"))
        yield page
        browser.close()


def test_the_page_follows_a_running_sweep_without_a_reload(page, tmp_path):
    root = tmp_path / "results"
    folder = write_results(root / "lr", {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}, seeds=2)
    write_progress(folder, "running", planned=12, done=8)
    write_live(folder, "cfg001", 2, [1])
    with running(root) as base:
        page.goto(f"{base}/#study=lr")
        # (locators only: the page's Content-Security-Policy forbids the evaluation of strings)
        page.wait_for_selector("#ranked tbody tr", timeout=30_000)
        page.locator(".panel canvas").nth(3).wait_for(timeout=30_000)
        assert page.locator("#ranked tbody tr").count() == 4
        assert "8/12 trials" in page.inner_text("#progress-line") and "ETA" in page.inner_text("#progress-line")
        assert "cfg001, seed 2: epoch 1" in page.inner_text("#running")

        # a new configuration's first seed is committed: its row goes to trials.csv, its live file away
        trials = (folder / "trials.csv").read_text().splitlines()
        new_row = trials[1].replace("cfg000,0,", "cfgnew,0,").replace(",0.01,", ",0.5,", 1)
        started = time.monotonic()
        with (folder / "trials.csv").open("a") as f:
            f.write(new_row + "\n")
        page.wait_for_selector("#ranked tbody tr[data-trial='cfgnew']", timeout=10_000)
        seen_after = time.monotonic() - started

        write_live(folder, "cfg001", 2, [1, 2])  # the running seed's next epoch
        page.locator("#running", has_text="seed 2: epoch 2").wait_for(timeout=10_000)
        write_progress(folder, "finished", done=9)
        page.locator("#progress-line", has_text="finished").wait_for(timeout=10_000)
        assert page.loads == [1]  # all of it without a reload
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert page.errors == []  # (while the server runs: polls in flight fail once it stops)
    assert seen_after < 5, f"the new row took {seen_after:.1f} s to appear"


def test_a_driver_killed_without_a_word_is_shown_as_stopped(page, tmp_path):
    root = tmp_path / "results"
    folder = write_results(root / "killed", {"momentum": [0.0, 0.9]}, seeds=2)
    write_progress(folder, "running", age_s=120)
    with running(root) as base:
        page.goto(f"{base}/")
        page.locator("#progress-line", has_text="stopped").wait_for(timeout=30_000)
        assert page.errors == []
