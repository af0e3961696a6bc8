"""How long a running trial's epoch takes to reach the live page (and MLflow).

    python bench/live_latency.py studies/lr_momentum.py --executor local [--mlflow http://127.0.0.1:5000]
    python bench/live_latency.py studies/lr_momentum.py --executor dask
    python bench/live_latency.py --simulate          # a fabricated sweep: the page's side alone

It runs `sweep run STUDY --results TMP` and `sweep serve --results TMP` (a free port), opens
the page in Debian's chromium (Playwright), and watches three things every 50-100 ms: the
study's live/ files (when each (trial, seed, epoch) first appears there: the moment the
engine wrote it, within the watch interval), the server's JSON (`running`: each running
seed's last epoch) and the page's "Running now" list. With --mlflow it also runs the sweep
with `--mlflow URI` and watches each nested run's `sweeper.synced` tag (the last step
logged). It prints each epoch's latency from the live file to the server, the page and
MLflow, and a summary. An epoch that the next one overtook between two polls is counted
once the later one is seen. It exits 1, saying why, if no live file ever appears.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweeper.storage import live_reader as live  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sweep(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "sweeper.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def in_files(folder: Path) -> set[tuple[str, int, int]]:
    return {(t, s, e) for p in live.live_files(folder) for t, s, e, *_ in live.read_live_file(p)}


def in_server(base: str, name: str) -> set[tuple[str, int, int]]:
    try:
        with urllib.request.urlopen(f"{base}/api/studies/{name}", timeout=5) as r:
            state = json.load(r)
    except OSError:
        return set()
    return {(r["trial"], r["seed"], e) for r in state["running"] for e in range(1, r["epoch"] + 1)}


def in_page(page: object) -> set[tuple[str, int, int]]:
    text = page.inner_text("#running")  # type: ignore[attr-defined]
    seen = set()
    for line in text.splitlines():  # "configuration T, seed S: epoch E, iteration I"
        if line.startswith("configuration "):
            trial, rest = line[len("configuration "):].split(", seed ", 1)
            seed, rest = rest.split(": epoch ", 1)
            seen |= {(trial, int(seed), e) for e in range(1, int(rest.split(",")[0]) + 1)}
    return seen


def in_mlflow(client: object, name: str, steps: dict[tuple[str, int, int], int]) -> set[tuple[str, int, int]]:
    found = client.get_experiment_by_name(name)  # type: ignore[attr-defined]
    if found is None:
        return set()
    runs = client.search_runs([found.experiment_id], max_results=1000)  # type: ignore[attr-defined]
    logged = {(r.data.tags.get("sweeper.trial"), int(r.data.tags.get("sweeper.seed", -1))):
              r.data.tags.get("sweeper.synced", "") for r in runs}
    return {key for key, step in steps.items() if (synced := logged.get(key[:2], "")) == "final"
            or (synced.isdigit() and int(synced) >= step)}


def simulate(results: Path, epochs: int = 6, seconds: float = 1.0) -> subprocess.Popen:
    """A fabricated sweep: two seeds of one configuration, one epoch a second, in live files."""
    code = f"""
import sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT / 'tests')!r})
from synthetic_results import write_results, write_live, write_progress
folder = write_results(Path({str(results)!r}) / "simulated", {{"momentum": [0.0, 0.9]}}, seeds=2)
for e in range(1, {epochs} + 1):
    time.sleep({seconds})
    for seed in (5, 6):
        write_live(folder, "cfgrun", seed, list(range(1, e + 1)))
    write_progress(folder, "running")
time.sleep(3)
"""
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?", help="a study file (or --simulate)")
    parser.add_argument("--executor", default="local", choices=["local", "dask", "sequential"])
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--mlflow", default=None, metavar="URI", help="also measure `sweep run --mlflow URI`")
    parser.add_argument("--simulate", action="store_true", help="fabricated live files instead of `sweep run`")
    args = parser.parse_args()
    if not args.simulate and not args.study:
        parser.error("give a study file or --simulate")
    from playwright.sync_api import sync_playwright

    results = Path(tempfile.mkdtemp(prefix="live-latency-"))
    port = free_port()
    server = sweep("serve", "--results", str(results), "--port", str(port))  # first, so no epoch is missed
    base = f"http://127.0.0.1:{port}"
    client = None
    if args.mlflow:
        from sweeper.integrations.mlflow_sync import client as mlflow_client

        client = mlflow_client(args.mlflow)
    first: dict[str, dict[tuple[str, int, int], float]] = {"file": {}, "server": {}, "page": {}, "mlflow": {}}
    steps: dict[tuple[str, int, int], int] = {}
    polls = 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            for _ in range(300):  # until the server answers
                try:
                    page.goto(f"{base}/#study={'simulated' if args.simulate else ''}")
                    break
                except Exception:
                    time.sleep(0.1)
            name, runner = start(args, results)
            began = time.monotonic()
            last_mlflow = 0.0
            while runner.poll() is None:
                now = time.monotonic()
                polls += 1
                for key in in_files(results / name) - first["file"].keys():
                    first["file"][key] = now
                for p_ in live.live_files(results / name):
                    for t, s, e, i, *_ in live.read_live_file(p_):
                        steps[(t, s, e)] = max(steps.get((t, s, e), 0), i)
                for where, found in (("server", in_server(base, name)), ("page", in_page(page))):
                    for key in found - first[where].keys():
                        first[where][key] = time.monotonic()
                if client is not None and now - last_mlflow > 0.5:
                    last_mlflow = now
                    for key in in_mlflow(client, name, steps) - first["mlflow"].keys():
                        first["mlflow"][key] = time.monotonic()
                time.sleep(0.05)
            print(f"watched every {(time.monotonic() - began) / max(polls, 1):.2f} s on average")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return report(first, name, results, runner)


def start(args: argparse.Namespace, results: Path) -> tuple[str, subprocess.Popen]:
    """The sweep to watch: its study's name and its process."""
    if args.simulate:
        return "simulated", simulate(results)
    from sweeper.study.studyfile import load_study

    extra = ["--mlflow", args.mlflow] if args.mlflow else []
    return load_study(args.study).name, sweep("run", args.study, "--results", str(results), "--executor",
                                              args.executor, "--jobs", args.jobs, "--quiet", *extra)


def report(first: dict[str, dict[tuple[str, int, int], float]], name: str, results: Path,
           runner: subprocess.Popen) -> int:
    if not first["file"]:
        why = runner.stderr.read()[-500:] if runner.stderr else ""
        print(f"no live file ever appeared in {results / name / live.LIVE}/ while the sweep ran: the engine does not "
              f"stream running trials' curves (live/<trial>.<seed>.csv, see sweeper/storage/live_reader.py).\n{why}")
        return 1
    print("| trial | seed | epoch | file -> server (s) | file -> page (s) | file -> MLflow (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    lags: dict[str, list[float]] = {"server": [], "page": [], "mlflow": []}
    for key, t0 in sorted(first["file"].items(), key=lambda kv: kv[1]):
        cells = []
        for where in ("server", "page", "mlflow"):
            seen = first[where].get(key)
            cells.append("" if seen is None else f"{seen - t0:.2f}")
            if seen is not None:
                lags[where].append(seen - t0)
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    for where, values in lags.items():
        if values:
            values.sort()
            print(f"{where}: {len(values)} of {len(first['file'])} epochs seen; median {values[len(values) // 2]:.2f} s, "
                  f"max {values[-1]:.2f} s; within 5 s: {sum(v <= 5 for v in values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
