"""`sweep export --tensorboard`: event files read back with TensorBoard's own reader, the
HParams plugin's data included; exporting again writes no point twice."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("tensorboard")
from synthetic_results import write_live, write_results  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

from sweeper.integrations.tensorboard_export import export  # noqa: E402


def read(run):
    events = EventAccumulator(str(run))
    events.Reload()
    return events


def test_a_run_per_row_with_curves_as_scalars_and_the_configuration_as_hparams(tmp_path):
    folder = write_results(tmp_path / "results" / "grid", {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]},
                           seeds=2, fail=[(0, 1, "failed")])
    write_live(folder, "cfgrun", 0, [1])
    done = export(folder, tmp_path / "tb")
    rows = pd.read_csv(folder / "trials.csv")
    runs = sorted(p.name for p in done.folder.iterdir())
    assert done.written == len(rows) + 1 and runs == sorted([f"{t}-seed{s}" for t, s in zip(rows["trial"], rows["seed"])]
                                                            + ["cfgrun-seed0"])
    events = read(done.folder / "cfg003-seed1")
    assert {"val_acc", "val_loss", "train_acc", "train_loss", "train_batch_loss", "best_val_acc"} <= set(
        events.Tags()["scalars"])
    assert [(s.step, round(s.value, 4)) for s in events.Scalars("val_acc")] == [
        (4, round(rows.query("trial == 'cfg003' and seed == 1")["val_acc"].item() / 2, 4)),
        (8, round(rows.query("trial == 'cfg003' and seed == 1")["val_acc"].item(), 4))]
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["learning_rate"].number_value == pytest.approx(0.1)
    assert start.hparams["momentum"].number_value == pytest.approx(0.9)
    assert start.hparams["seed"].number_value == 1 and start.hparams["status"].string_value == "ok"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert "val_acc" in {m.name.tag for m in experiment.metric_infos}
    failed = read(done.folder / "cfg000-seed1").PluginTagToContent("hparams")
    assert plugin_data_pb2.HParamsPluginData.FromString(
        failed["_hparams_/session_start_info"]).session_start_info.hparams["status"].string_value == "failed"


def test_exporting_again_skips_finished_runs_and_rewrites_running_ones(tmp_path):
    folder = write_results(tmp_path / "results" / "two", {"momentum": [0.0, 0.9]}, seeds=1)
    write_live(folder, "cfgrun", 0, [1])
    export(folder, tmp_path / "tb")
    write_live(folder, "cfgrun", 0, [1, 2])
    again = export(folder, tmp_path / "tb")
    assert (again.written, again.skipped) == (1, 2)
    running = read(again.folder / "cfgrun-seed0")
    assert [s.step for s in running.Scalars("val_acc")] == [4, 8]  # each point once
    assert len(list((again.folder / "cfgrun-seed0").glob("events.out.tfevents.*"))) == 1
