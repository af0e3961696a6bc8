"""`sweep test`, `sweep weights` and `sweep clean`: what a sweep kept, used (see sweeper/weights.py)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

TEST_EPILOG = """\
examples:
  sweep test studies/lr_momentum.py             the best configuration's kept seeds on the test split
  sweep test studies/own_model.py --rank 2      the second best's

The study needs a test split (Split(..., test=True), or `data` that returns one) and kept
weights (Study(weights="best"), the default, keeps the best configuration's seeds'). Nothing
is trained: each kept seed's weights at its best epoch are evaluated, and the mean with its
95 % interval is printed; the per-seed values go to results/<study>/test.csv."""

WEIGHTS_EPILOG = """\
examples:
  sweep weights lr_momentum --out best.safetensors              the best configuration, its first kept seed
  sweep weights lr_momentum --rank 1 --seed 3 --out s3.safetensors

The file is a safetensors file (torch: safetensors.torch.load_file) holding the model's
state_dict, with the study, configuration and seed in its metadata."""


def add_weights_commands(sub: Any) -> None:
    test = sub.add_parser("test", help="evaluate the chosen configuration's kept weights on the test split",
                          description="Evaluate the kept weights of the chosen configuration's seeds on the test "
                                      "split, without training, and print the mean with its 95% interval.",
                          epilog=TEST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    test.add_argument("study", metavar="STUDY.py", help="the study file (its model and data are rebuilt from it)")
    test.add_argument("--rank", type=int, default=1, help="the configuration by rank (default: 1, the best)")
    test.add_argument("--results", default="results", help="results root (default: ./results)")
    test.add_argument("--data-dir", default=None, help="dataset root (default: $SWEEPER_DATA_DIR or ./data)")
    test.set_defaults(handler=cmd_test)

    weights = sub.add_parser("weights", help="write a kept model's weights to a file, for use elsewhere",
                             description="Write the kept weights of a (configuration, seed) to a safetensors file.",
                             epilog=WEIGHTS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    weights.add_argument("study", metavar="STUDY", help="study name, results folder or study file")
    weights.add_argument("--out", "-o", required=True, help="the .safetensors file to write")
    weights.add_argument("--rank", type=int, default=1, help="the configuration by rank (default: 1, the best)")
    weights.add_argument("--seed", type=int, default=None, help="which kept seed (default: the first)")
    weights.add_argument("--last", action="store_true", help="the last epoch's weights (kept with keep_last=True)")
    weights.add_argument("--results", default="results", help="results root (default: ./results)")
    weights.set_defaults(handler=cmd_weights)

    clean = sub.add_parser("clean", help="remove a study's resume checkpoints (and, if asked, its kept weights)",
                           description="Remove results/<study>/checkpoints/ and live/: what a stopped sweep left to "
                                       "resume from. Its tables stay; `sweep run` then trains a stopped trial afresh.")
    clean.add_argument("study", metavar="STUDY", help="study name, results folder or study file")
    clean.add_argument("--weights", action="store_true", help="also remove results/<study>/weights/")
    clean.add_argument("--results", default="results", help="results root (default: ./results)")
    clean.set_defaults(handler=cmd_clean)


def cmd_test(args: argparse.Namespace) -> int:
    from sweeper.analysis.results import find, read_folder
    from sweeper.analysis.stats import mean_ci
    from sweeper.metrics import range_of
    from sweeper.study.studyfile import load_study
    from sweeper.weights import chosen, test

    study = load_study(args.study)
    results = read_folder(find(study.name, args.results))
    table = test(study, results, args.rank, args.data_dir)
    table.to_csv(results.folder / "test.csv", index=False)
    trial = chosen(results, args.rank)
    label = results.summary.set_index("trial").loc[trial, "label"]
    rows = results.complete[results.complete["trial"] == trial].set_index("seed")["best_epoch"]
    epochs = ", ".join(f"seed {s}: {rows.get(s, '?')}" for s in table["seed"].unique())
    print(f"{results.name}: rank {args.rank}, {label}: the kept weights, of each seed's best epoch ({epochs}), "
          f"{table['seed'].nunique()} seeds; the test figure `sweep show` gives beside it (trials.csv's test_acc "
          "is the last epoch's)")
    for metric, group in table.groupby("metric", sort=False):
        s = mean_ci(group["value"].to_numpy(float), bounds=range_of(str(metric)), min_n=3)
        ci = f" [{float(s['ci_low']):.4f}, {float(s['ci_high']):.4f}]" if s["ci_low"] == s["ci_low"] else ""
        print(f"  {metric}: {float(s['mean']):.4f}{ci}  (seeds {', '.join(map(str, group['seed']))})")
    print(f"per seed: {results.folder / 'test.csv'}")
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from sweeper.analysis.results import load
    from sweeper.api import study_name
    from sweeper.weights import export

    results = load(study_name(args.study), args.results)
    picked = export(results, Path(args.out), args.rank, args.seed, "last" if args.last else "best")
    print(f"{args.out}: {results.name}, configuration {picked.pop('trial')}, seed {picked.pop('seed')}")
    print("load it with: torch model.load_state_dict(safetensors.torch.load_file(...)) on the model of:")
    print("  " + " ".join(f"{k}={v}" for k, v in picked.items()))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from sweeper.analysis.results import find
    from sweeper.api import study_name
    from sweeper.storage.layout import CHECKPOINTS, LIVE, WEIGHTS
    from sweeper.storage.store import ResultsStore

    folder = find(study_name(args.study), args.results)
    store = ResultsStore(folder)
    store.lock()  # a running sweep still writes here: refused, with who holds it
    try:
        gone = [name for name in (CHECKPOINTS, LIVE, *([WEIGHTS] if args.weights else [])) if (folder / name).exists()]
        for name in gone:
            shutil.rmtree(folder / name)
    finally:
        store.close()
    print(f"{folder}: removed {', '.join(f'{n}/' for n in gone) or 'nothing (no checkpoints)'}", file=sys.stdout)
    return 0
