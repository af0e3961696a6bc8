import io

import pandas as pd
import pytest

from sweeper.analysis.findings import TemplateError, render
from sweeper.execution.runner import run_study
from tests.conftest import tiny_study


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    run_study(tiny_study(seeds=3), results_root=root, data_root="unused", jobs=1, executor="sequential",
              show_progress=False, stream=io.StringIO())
    return root


def _render(tmp_path, results, text):
    (tmp_path / "t.md").write_text(text)
    return render(tmp_path / "t.md", tmp_path / "out" / "page.md", results)


def test_numbers_and_tables_come_from_the_results(tmp_path, results):
    page = _render(tmp_path, results, "{{about tiny}}\n\n{{table tiny}}\n\nm0: {{mean tiny momentum=0.0}}\n"
                                      "v: {{verdict tiny momentum=0.0}}\n{{plot tiny seeds}}\n")
    df = pd.read_csv(results / "tiny" / "trials.csv")
    mean = df[df["momentum"] == 0.0]["val_acc"].mean()
    assert f"m0: {mean:.3f} [" in page.text
    assert "digits, 2 configurations × 3 seeds = 6 trials (0 failed, 0 diverged)" in page.text
    assert page.text.count("| momentum=0.") == 2 and "| rank |" in page.text
    assert "v: best" in page.text or "v: indistinguishable from the best" in page.text or "v: worse" in page.text
    assert "![tiny: seeds](figures/tiny-seeds.png)" in page.text
    assert (tmp_path / "out" / "figures" / "tiny-seeds.png").stat().st_size > 1000
    assert (tmp_path / "out" / "page.md").read_text() == page.text


@pytest.mark.parametrize("text, message", [
    ("{{frobnicate tiny}}", "t.md:1: unknown directive `frobnicate`"),
    ("\n{{mean nosuch momentum=0.0}}", "t.md:2:"),
    ("{{mean tiny}}", "matches 2 configurations of tiny, not one"),
    ("{{mean tiny optimizer=sgd}}", "`optimizer` is not searched in tiny"),
    ("{{mean tiny momentum=0.0 metric=nope}}", "no metric `nope`"),
    ("{{plot tiny nope}}", "tiny has no plot `nope`"),
])
def test_template_errors_name_the_line_and_the_fix(tmp_path, results, text, message):
    with pytest.raises(TemplateError, match=message.replace("(", r"\(")):
        _render(tmp_path, results, text)


def test_compare_pairs_two_configurations_by_seed(tmp_path, results):
    page = _render(tmp_path, results, "{{compare tiny momentum=0.9 | momentum=0.0}}")
    df = pd.read_csv(results / "tiny" / "trials.csv").pivot_table(index="seed", columns="momentum", values="val_acc")
    diff = (df[0.9] - df[0.0]).mean()
    assert page.text.startswith(f"{diff:+.3f} [") and "paired t-test over 3 seeds, p = " in page.text


def test_median_and_share_of_configurations(tmp_path, results):
    page = _render(tmp_path, results, "{{median tiny}} / {{share tiny above=0.0}} / {{share tiny below=0.0}}")
    means = pd.read_csv(results / "tiny" / "trials.csv").groupby("trial")["val_acc"].mean()
    assert page.text == f"{means.median():.3f} / 2 of 2 / 0 of 2"


def test_a_crossed_study_splits_its_spread_on_the_page(tmp_path):
    from sweeper import Crossed

    root = tmp_path / "results"
    run_study(tiny_study(name="cross", seeds=Crossed(init=3, order=3), fixed={"hidden_size": 8, "epochs": 1}),
              results_root=root, data_root="unused", jobs=1, executor="sequential", show_progress=False,
              stream=io.StringIO())
    page = _render(tmp_path, root, "{{variance cross}}\n\nthe data order: {{part cross order momentum=0.9}}\n")
    assert "| configuration | init sd [95% CI] | order sd [95% CI] | rest sd [95% CI] |" in page.text
    assert page.text.count("| momentum=") == 2 and "the data order: " in page.text and "% (sd 0." in page.text
    with pytest.raises(TemplateError, match="seeds are not crossed"):
        _plain_variance(tmp_path)


def _plain_variance(tmp_path):
    root = tmp_path / "plain"
    run_study(tiny_study(seeds=2), results_root=root, data_root="unused", jobs=1, executor="sequential",
              show_progress=False, stream=io.StringIO())
    return _render(tmp_path, root, "{{variance tiny}}")
