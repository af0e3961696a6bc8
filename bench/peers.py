"""sweeper against the tools a user would otherwise reach for, on the same grid, as processes.

    python bench/peers.py --data-dir ../shared/data            # 3 rounds, about 8 minutes on 2 quiet cores
    python bench/peers.py --data-dir ../shared/data --quick    # a 2 x 2 grid, 2 seeds, 2 epochs: a smoke test

The work: a 4 x 3 grid of SGD learning rate x momentum, 5 seeds each, MLP(30), batch 64,
10 epochs on MNIST's first 10,000 training images, validated on the next 2,000; loss and
accuracy on both splits after every epoch; 2 workers. Each tool runs end to end as a
fresh process (its start-up, imports and worker processes are counted):

  sweeper            `sweep run --jobs 2`, the default: stacked groups the study fixes
  sweeper no-stack   `sweep run --jobs 2 --no-stack`, one task per (configuration, seed)
  sweeper vectorized `sweep run --jobs 2 --vectorize`, each configuration's seeds together
  joblib             a plain loop, `joblib.Parallel(n_jobs=2)` over (configuration, seed)
  optuna 2 procs     GridSampler over (lr, momentum, seed), 2 processes sharing a JournalStorage
  optuna n_jobs=2    the same in one process, `study.optimize(n_jobs=2)` (threads)

The peers' training code is what a user would write: torch.optim.SGD, an nn.Sequential, the
images as tensors in memory (loaded from one file this script writes first), one torch
thread, batches by indexing a random permutation. The tools run in turn, in a different
order each round, and the load average is printed before each round. The table gives each
tool's rounds, its best, and how many times faster the default `sweeper` is, round by round
and best against best; then the floor: the grid's arithmetic (the matrix products of every
training step and evaluation) at this machine's single-thread matrix-product rate on the 2
workers, plus a bare interpreter's and `import torch`'s start-up, all measured here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import floor  # noqa: E402 (after the path that finds it)

FULL = {"lrs": [0.01, 0.05, 0.1, 0.2], "momenta": [0.0, 0.5, 0.9], "seeds": 5, "epochs": 10,
        "train": 10000, "val": 2000, "rounds": 3}
QUICK = {"lrs": [0.05, 0.1], "momenta": [0.0, 0.9], "seeds": 2, "epochs": 2, "train": 2000, "val": 500, "rounds": 1}
TOOLS = ["sweeper", "sweeper no-stack", "sweeper vectorized", "joblib", "optuna 2 procs", "optuna n_jobs=2"]
JOBS = 2

STUDY = """from sweeper import Split, Study

study = Study(name="peers", dataset="mnist", split=Split(train={train}, val={val}),
              fixed={{"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": {epochs}}},
              space={{"learning_rate": {lrs}, "momentum": {momenta}}}, seeds={seeds}, metric="val_acc")
"""


# -- the peers' side: what a user writes ---------------------------------------------------
_DATA: dict[str, Any] = {}


def train_one(data_file: str, lr: float, momentum: float, seed: int, epochs: int) -> float:
    """Train MLP(30) with torch.optim.SGD; accuracy on both splits after every epoch; the
    last validation accuracy."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    if data_file not in _DATA:
        _DATA[data_file] = torch.load(data_file)
    x_train, y_train, x_val, y_val = _DATA[data_file]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(seed)
    val_acc = 0.0
    for _ in range(epochs):
        perm = torch.randperm(len(x_train), generator=order)
        for b in range(len(x_train) // 64):
            idx = perm[b * 64:(b + 1) * 64]
            optimizer.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
        with torch.no_grad():
            train_acc = (model(x_train).argmax(1) == y_train).float().mean().item()  # noqa: F841 (recorded, as the others do)
            val_acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    return val_acc


def peer_joblib(data_file: str, work: dict) -> list[dict]:
    from joblib import Parallel, delayed

    jobs = [(lr, m, s) for lr in work["lrs"] for m in work["momenta"] for s in range(work["seeds"])]
    accs = Parallel(n_jobs=JOBS)(delayed(train_one)(data_file, lr, m, s, work["epochs"]) for lr, m, s in jobs)
    return [{"lr": lr, "momentum": m, "seed": s, "val_acc": a} for (lr, m, s), a in zip(jobs, accs, strict=True)]


def _optuna_study(storage: Any, work: dict) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"lr": work["lrs"], "momentum": work["momenta"], "seed": list(range(work["seeds"]))}
    return optuna.create_study(study_name="peers", storage=storage, sampler=optuna.samplers.GridSampler(space, seed=0),
                               direction="maximize", load_if_exists=True)


def _objective(data_file: str, work: dict) -> Any:
    def objective(trial: Any) -> float:
        lr = trial.suggest_categorical("lr", work["lrs"])
        momentum = trial.suggest_categorical("momentum", work["momenta"])
        seed = trial.suggest_categorical("seed", list(range(work["seeds"])))
        return train_one(data_file, lr, momentum, seed, work["epochs"])
    return objective


def peer_optuna_worker(data_file: str, work: dict, journal: str) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = _optuna_study(JournalStorage(JournalFileBackend(journal)), work)
    study.optimize(_objective(data_file, work))


def peer_optuna_threads(data_file: str, work: dict) -> list[dict]:
    study = _optuna_study(None, work)
    study.optimize(_objective(data_file, work), n_jobs=JOBS)
    return _optuna_rows(study)


def _optuna_rows(study: Any) -> list[dict]:
    return [{**t.params, "val_acc": t.value} for t in study.trials if t.value is not None]


# -- the driver ------------------------------------------------------------------------------
def run_tool(tool: str, work: dict, tmp: Path, data_dir: str) -> tuple[float, list[dict]]:
    """Run one tool end to end in fresh processes: wall seconds and one row per trial."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = tmp / f"{tool.replace(' ', '_').replace('=', '')}.json"
    here = [sys.executable, str(Path(__file__).resolve())]
    start = time.perf_counter()
    if tool.startswith("sweeper"):
        results = tmp / f"results-{time.monotonic_ns()}"
        flag = {"sweeper": [], "sweeper vectorized": ["--vectorize"], "sweeper no-stack": ["--no-stack"]}[tool]
        subprocess.run([sys.executable, "-m", "sweeper.cli", "run", str(tmp / "study.py"), "--jobs", str(JOBS),
                        "--results", str(results), "--data-dir", data_dir, "--device", "cpu", "--quiet", *flag],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        return seconds, _sweeper_rows(results / "peers" / "trials.csv")
    if tool == "optuna 2 procs":
        journal = tmp / f"journal-{time.monotonic_ns()}.log"
        procs = [subprocess.Popen([*here, "--peer", "optuna-worker", "--work", json.dumps(work), "--data-file",
                                   str(tmp / "data.pt"), "--out", str(journal)], env=env) for _ in range(JOBS)]
        if any(p.wait() for p in procs):
            raise RuntimeError("an Optuna worker failed")
        seconds = time.perf_counter() - start
        return seconds, _journal_rows(journal, work)
    peer = {"joblib": "joblib", "optuna n_jobs=2": "optuna-threads"}[tool]
    subprocess.run([*here, "--peer", peer, "--work", json.dumps(work), "--data-file", str(tmp / "data.pt"),
                    "--out", str(out)], check=True, env=env)
    seconds = time.perf_counter() - start
    return seconds, json.loads(out.read_text())


def _sweeper_rows(path: Path) -> list[dict]:
    import csv

    with path.open(newline="") as f:
        return [{"lr": float(r["learning_rate"]), "momentum": float(r["momentum"]), "seed": int(r["seed"]),
                 "val_acc": float(r["val_acc"])} for r in csv.DictReader(f)]


def _journal_rows(journal: Path, work: dict) -> list[dict]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return _optuna_rows(_optuna_study(JournalStorage(JournalFileBackend(str(journal))), work))


def write_data(data_dir: str, work: dict, path: Path) -> None:
    """The split every tool trains on, as tensors in one file: MNIST's first `train` images
    and the next `val`, scaled to [0, 1] (what sweeper's Split(train, val) takes)."""
    import torch

    from sweeper.builtin import data as datasets
    from sweeper.builtin.data import DataSpec
    from sweeper.study.study import Split

    d = datasets.load(DataSpec("mnist", data_dir, Split(work["train"], work["val"])))
    torch.save((d.x_train, d.y_train, d.x_val, d.y_val), path)


def summary(rows: list[dict]) -> str:
    """The best configuration by mean validation accuracy over seeds: a check that every
    tool trained the same thing."""
    means: dict[tuple, list[float]] = {}
    for r in rows:
        means.setdefault((r["lr"], r["momentum"]), []).append(r["val_acc"])
    (lr, m), accs = max(means.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
    return f"lr {lr} momentum {m}: {sum(accs) / len(accs):.4f} ({len(rows)} trials)"


def machine() -> str:
    import platform

    cpu = platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    return f"{cpu}, {len(os.sched_getaffinity(0))} cores; Python {platform.python_version()}, torch {torch.__version__}"


def load() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"))
    parser.add_argument("--quick", action="store_true", help="a 2 x 2 grid, 2 seeds, 2 epochs, 1 round")
    parser.add_argument("--rounds", type=int, help="rounds of every tool (default 3; 1 with --quick)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {TOOLS}")
    parser.add_argument("--peer", help=argparse.SUPPRESS)  # the peers' own processes
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--data-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        work = json.loads(args.work)
        if args.peer == "optuna-worker":
            peer_optuna_worker(args.data_file, work, args.out)
        else:
            rows = (peer_joblib if args.peer == "joblib" else peer_optuna_threads)(args.data_file, work)
            Path(args.out).write_text(json.dumps(rows))
        return 0

    from sweeper.builtin import data as datasets

    if not datasets.is_available("mnist", args.data_dir):
        print(f"peers: MNIST is missing: {datasets.missing_message('mnist', args.data_dir)}", file=sys.stderr)
        return 2
    work = dict(QUICK if args.quick else FULL)
    rounds = args.rounds or work.pop("rounds")
    work.pop("rounds", None)
    tools = [t.strip() for t in args.tools.split(",")]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        print(f"peers: unknown tools {unknown}; known: {TOOLS}", file=sys.stderr)
        return 2
    seconds: dict[str, list[float]] = {t: [] for t in tools}
    checks: dict[str, str] = {}
    loads, rates, starts = [], [], []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "study.py").write_text(STUDY.format(**work))
        write_data(args.data_dir, work, tmp / "data.pt")
        for r in range(rounds):
            loads.append(load())
            rates.append(floor.gemm_rate())
            starts.append(floor.startup())
            print(f"round {r + 1}: load {loads[-1]}, matrix products {rates[-1]:.0f} GFLOP/s", file=sys.stderr, flush=True)
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            if r % 2:
                order.reverse()
            for tool in order:
                wall, rows = run_tool(tool, work, tmp, args.data_dir)
                seconds[tool].append(wall)
                checks[tool] = summary(rows)
                print(f"  round {r + 1}: {tool}: {wall:.1f} s; best {checks[tool]}", file=sys.stderr, flush=True)
    loads.append(load())
    grid = f"{len(work['lrs'])} x {len(work['momenta'])} grid x {work['seeds']} seeds, {work['epochs']} epochs, " \
           f"{work['train']}/{work['val']} images"
    print(f"Machine: {machine()}. Date: {datetime.date.today()}. {grid}, {JOBS} workers, {rounds} round(s). "
          f"Load average (1/5/15 min) before each round: {'; '.join(loads[:-1])}; after: {loads[-1]}.\n")
    print(table(seconds, checks))
    models = len(work["lrs"]) * len(work["momenta"]) * work["seeds"]
    flops = floor.grid_flops(models, work["epochs"], work["train"], work["val"], batch=64, hidden=30)
    print("\n" + floor_line(flops, max(rates), min(s[0] for s in starts), min(s[1] for s in starts),
                            min(seconds.get("sweeper", [0.0]))))
    return 0


def table(seconds: dict[str, list[float]], checks: dict[str, str]) -> str:
    """Each tool's rounds and best, and how many times faster the default sweeper is: best
    against best, and in each round; then the same against the best peer."""
    best = {t: min(v) for t, v in seconds.items()}
    ours = seconds.get("sweeper")
    lines = ["| tool | seconds (each round) | best | the default sweeper is faster by (best; each round) "
             "| best configuration, mean val_acc |", "|---|---|---:|---:|---|"]
    for tool, values in seconds.items():
        ratio = ""
        if ours:
            each = ", ".join(f"{v / o:.2f}x" for v, o in zip(values, ours, strict=False))
            ratio = f"{best[tool] / min(ours):.2f}x; {each}"
        lines.append(f"| {tool} | {', '.join(f'{v:.1f}' for v in values)} | {best[tool]:.1f} | {ratio} "
                     f"| {checks[tool]} |")
    peers = {t: v for t, v in best.items() if not t.startswith("sweeper")}
    if ours and peers:
        peer = min(peers, key=lambda t: peers[t])
        rounds = [min(seconds[t][r] for t in peers if r < len(seconds[t])) / o for r, o in enumerate(ours)]
        lines.append(f"\nThe best peer, {peer}, against the default sweeper: {peers[peer] / min(ours):.2f}x best "
                     f"against best; the fastest peer of each round against the default's same round: "
                     f"{', '.join(f'{x:.2f}x' for x in rounds)}.")
    return "\n".join(lines)


def floor_line(flops: tuple[float, float], rate: float, interpreter: float, torch: float, ours: float) -> str:
    """What no tool can beat on this machine (`floor.py`), and how far the default sweeper is from it."""
    compute = sum(flops) / (rate * 1e9 * JOBS)
    total = compute + interpreter + torch
    line = (f"Floor: {sum(flops) / 1e12:.3f} TFLOP (training {flops[0] / 1e12:.3f}, evaluation {flops[1] / 1e12:.3f}) "
            f"at {rate:.0f} GFLOP/s per worker (one thread, best of the rounds) on {JOBS} workers = {compute:.2f} s, "
            f"+ interpreter {interpreter:.2f} s + import torch {torch:.2f} s = {total:.2f} s.")
    if ours:
        line += f" The default sweeper's best round is {ours / total:.2f}x the floor."
    return line


if __name__ == "__main__":
    sys.exit(main())
