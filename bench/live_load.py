"""The live page's load time for a large study: 10,000 trials with per-epoch curves.

    python bench/live_load.py [--configs 2000 --seeds 5 --epochs 10]

Writes a synthetic results folder (bench/big_study.py: 2000 configurations x 5 seeds, 10
epochs of training and validation loss and accuracy: 400,000 curve rows), starts `sweep
serve` on it and opens the page in Debian's chromium (Playwright), timing from the request:
the page and study list, the ranked table with means and intervals, the verdicts (the paired
tests against the best), the learning curves; then the same once more in a new page, with
the server's caches warm. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.big_study import write  # noqa: E402
from bench.live_latency import free_port  # noqa: E402


def load(browser: object, url: str, panels: int) -> dict[str, float]:
    """Seconds from the request to each stage of the page."""
    page = browser.new_page()  # type: ignore[attr-defined]
    t0 = time.monotonic()
    times = {}
    page.goto(url)
    times["page and study list"] = time.monotonic() - t0
    page.locator("#ranked tbody tr").first.wait_for(timeout=600_000)
    times["ranked table (means, intervals)"] = time.monotonic() - t0
    page.locator(".panel canvas").nth(panels - 1).wait_for(timeout=600_000)
    times[f"learning curves ({panels} panels)"] = time.monotonic() - t0
    page.locator("#ranked tbody tr.best").first.wait_for(timeout=600_000)
    page.locator("#table-note", has_text="updating").wait_for(state="detached", timeout=600_000) \
        if page.locator("#table-note", has_text="updating").count() else None
    times["verdicts"] = time.monotonic() - t0
    page.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = Path(tempfile.mkdtemp(prefix="live-load-"))
    folder = write(results / "big", args.configs, args.seeds, args.epochs)
    sizes = {p.name: p.stat().st_size / 1e6 for p in folder.iterdir()}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "sweeper.cli", "serve", "--results", str(results), "--port",
                               str(port)], env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            url = f"http://127.0.0.1:{port}/#study=big"
            for _ in range(300):
                try:
                    browser.new_page().goto(url.split("#")[0] + "static/style.css")
                    break
                except Exception:
                    time.sleep(0.1)
            cold = load(browser, url, 12)
            warm = load(browser, url, 12)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.configs * args.seeds} trials ({args.configs} configurations x {args.seeds} seeds), "
          f"{args.configs * args.seeds * args.epochs * 4} curve rows; trials.csv {sizes['trials.csv']:.1f} MB, "
          f"curves.csv {sizes['curves.csv']:.1f} MB\n")
    print("| stage | first load (s) | second load (s) |\n|---|---:|---:|")
    for stage in cold:
        print(f"| {stage} | {cold[stage]:.2f} | {warm[stage]:.2f} |")


if __name__ == "__main__":
    main()
