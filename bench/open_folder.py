"""Time `sweep show` and a resumed `sweep run`'s opening of a results folder with many curve rows.

    python bench/open_folder.py                 # 100,000 curve rows (the default), best of 3
    python bench/open_folder.py --rows 1000000

Builds a synthetic results folder (tests/synthetic_results.py: a grid with per-iteration
curves) under a temporary folder, then times `sweep show` end to end in a fresh process (the
interpreter and imports included) and, in this process, opening the folder as a resumed
`sweep run` does (lock, snapshot, repair, every row read).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench import best_of  # noqa: E402


def build(root: Path, rows: int) -> Path:
    from tests.synthetic_results import write_results

    configs, seeds, epochs = 20, 5, 5
    per_trial = rows // (configs * seeds)  # a batch loss per iteration, 4 evaluation rows per epoch
    iterations = max(1, (per_trial - 4 * epochs) // epochs)
    return write_results(root / "big", {"learning_rate": [0.01 * (i + 1) for i in range(configs)]}, seeds=seeds,
                         epochs=epochs, iterations_per_epoch=iterations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="curve rows, about (default 100,000)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(Path(tmp), args.rows)
        import json

        snapshot = json.loads((folder / "study.json").read_text())
        (folder / "study.json").write_text(json.dumps({**snapshot, "fingerprint": None}))
        curve_rows = sum(1 for _ in (folder / "curves.csv").open()) - 1
        show = best_of(args.repeats, lambda: subprocess.run(
            [sys.executable, "-m", "sweeper.cli", "show", str(folder)], check=True, capture_output=True,
            cwd=ROOT))
        from sweeper.storage.store import ResultsStore

        def reopen() -> None:
            store = ResultsStore(folder)
            store.open(lambda old: {**(old or {}), "fingerprint": None}, None)
            store.rows()
            store.close()

        opening = best_of(args.repeats, reopen)
        from sweeper.analysis.results import read_folder

        assert len(read_folder(folder).comparisons)  # imports (pandas, scipy) outside the timing
        shown = best_of(args.repeats, lambda: read_folder(folder).comparisons)
        print(f"{folder.name}: {curve_rows} curve rows, {sum(1 for _ in (folder / 'trials.csv').open()) - 1} trials")
        print(f"sweep show, end to end: {show:.2f} s (best of {args.repeats})")
        print(f"what sweep show reads and computes, in this process: {shown:.2f} s (best of {args.repeats})")
        print(f"opening for a resumed run: {opening:.2f} s (best of {args.repeats})")


if __name__ == "__main__":
    main()
