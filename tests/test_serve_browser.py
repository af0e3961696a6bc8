"""The live page in a real browser: Debian's chromium (scripts/install-browser.sh), driven by
Playwright pointed at that executable (Playwright's own browser download is never used).
The page loads with no console error, then follows the results folder without a reload: a
row appended to trials.csv appears in the table, a running seed's new epoch in its curve.

Without chromium the test is skipped, unless the CI variable is set: in CI a missing
browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
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
        running_now = page.inner_text("#running")  # named by its values, not by its id
        assert "seed 2: epoch 1" in running_now and "learning_rate=" in running_now and "cfg001" not in running_now

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


SCREENS = Path("/work/tools/screens")


def nine_hyperparameters(root: Path) -> Path:
    """A random search over 9 hyperparameters, 24 configurations x 3 seeds, one seed diverged."""
    rng = np.random.default_rng(9)
    n = 24
    space = {"learning_rate": list(np.round(np.exp(rng.uniform(-7, 0, n)), 5)),
             "momentum": list(np.round(rng.uniform(0, 0.99, n), 3)), "hidden_size": list(rng.integers(16, 512, n)),
             "batch_size": list(rng.choice([32, 64, 128, 256], n)), "weight_decay": list(np.round(rng.uniform(0, 1e-3, n), 6)),
             "dropout": list(np.round(rng.uniform(0, 0.5, n), 3)), "num_layers": list(rng.integers(1, 4, n)),
             "optimizer": list(rng.choice(["sgd", "adam"], n)), "normalization": list(rng.choice(["none", "bn_after_relu"], n))}
    return write_results(root / "nine", space, seeds=3, sampler="random", fail=[(5, 1, "diverged")])


def test_a_nine_hyperparameter_study_fits_1280_pixels_with_its_pictures(tmp_path):
    assert CHROMIUM is not None
    root = tmp_path / "results"
    nine_hyperparameters(root)
    with sync_api.sync_playwright() as p, running(root) as base:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/#study=nine")
        page.locator("#importance rect").first.wait_for(timeout=30_000)
        page.locator("#parallel polyline").first.wait_for(timeout=30_000)
        headers = page.locator("#ranked thead th")
        names = [headers.nth(i).inner_text() for i in range(headers.count())]
        assert names[:4] == ["rank", "val_acc mean [95% CI]", "verdict", "why"]
        assert "learning_rate" in names and "normalization" in names  # one column per hyperparameter
        verdict = page.locator("#ranked tbody tr").first.locator("td").nth(2).bounding_box()
        assert verdict is not None and verdict["x"] + verdict["width"] <= 1280  # seen without scrolling sideways
        assert page.locator("#importance rect").count() >= 10  # 9 hyperparameters, the rest and the seeds
        assert page.locator("#importance text", has_text=re.compile("^seeds$")).count() == 1  # the seeds beside them
        assert page.locator("#parallel polyline").count() == 24
        assert page.locator("#parallel polyline[stroke-dasharray='4 3']").count() == 1  # the diverged seed's configuration
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / "nine_1280.png"))
        page.screenshot(path=str(SCREENS / "nine_1280_full.png"), full_page=True)
        assert errors == []
        browser.close()
