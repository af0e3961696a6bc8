"""A results folder in a real MLflow tracking server (SQLite backend), started by the test on
a free port of 127.0.0.1 and stopped after: a parent run per study, a nested run per row of
trials.csv, running seeds logged as they go, and no duplicate however often it syncs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

pytest.importorskip("mlflow")

from live_server import free_port  # noqa: E402
from synthetic_results import write_live, write_progress, write_results  # noqa: E402

from sweeper.integrations import mlflow_sync  # noqa: E402

pytestmark = pytest.mark.slow  # the server takes 10-20 s to start on 2 cores


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    where = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    process = subprocess.Popen([mlflow, "server", "--backend-store-uri", f"sqlite:///{where / 'mlflow.db'}",
                                "--default-artifact-root", str(where / "artifacts"), "--host", "127.0.0.1",
                                "--port", str(port), "--workers", "1"], stdout=subprocess.DEVNULL,
                               stderr=open(where / "server.log", "w"), start_new_session=True)  # noqa: SIM115
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(uri + "/health", timeout=2)
                break
            except OSError:
                assert process.poll() is None, (where / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the MLflow server did not start in 120 s"
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the uvicorn it starts
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def nested(client, folder):
    experiment = client.get_experiment_by_name(folder.name).experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    parents = [r for r in runs if r.data.tags.get(mlflow_sync.ROLE) == "study"]
    return parents, [r for r in runs if r.data.tags.get(mlflow_sync.ROLE) != "study"]


def test_a_run_per_row_nested_under_one_parent_and_a_second_sync_adds_none(server, tmp_path):
    folder = write_results(tmp_path / "grid", {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}, seeds=3,
                           fail=[(1, 2, "diverged")])
    client = mlflow_sync.client(server)
    first = mlflow_sync.sync(folder, server)
    again = mlflow_sync.sync(folder, server)  # a second export, or a resumed sweep
    parents, children = nested(client, folder)
    rows = pd.read_csv(folder / "trials.csv")
    assert (first.created, again.created, again.finished) == (len(rows), 0, 0)
    assert len(parents) == 1 and len(children) == len(rows) == 12
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert {(r.data.tags["sweeper.trial"], int(r.data.tags["sweeper.seed"])) for r in children} == \
        set(zip(rows["trial"], rows["seed"]))
    run = next(r for r in children if (r.data.tags["sweeper.trial"], r.data.tags["sweeper.seed"]) == ("cfg003", "0"))
    assert run.data.params["learning_rate"] == "0.1" and run.data.params["momentum"] == "0.9"
    assert run.data.tags["sweeper.status"] == "ok" and run.info.status == "FINISHED"
    assert run.data.metrics["best_val_acc"] == pytest.approx(rows.query("trial == 'cfg003' and seed == 0")["best_val_acc"].item())
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert [m.step for m in history] == [4, 8]  # per epoch, at its iteration
    lost = next(r for r in children if r.data.tags["sweeper.status"] == "diverged")
    assert lost.info.status == "FAILED"


def test_a_running_seed_is_logged_as_it_goes_then_finished_without_a_point_twice(server, tmp_path):
    folder = write_results(tmp_path / "live", {"momentum": [0.0, 0.9]}, seeds=2)
    write_progress(folder, "running")
    write_live(folder, "cfg001", 2, [1])
    client = mlflow_sync.client(server)
    syncer = mlflow_sync.Syncer(folder, client)
    syncer.sync()
    write_live(folder, "cfg001", 2, [1, 2])
    syncer.sync()
    _, children = nested(client, folder)
    running = next(r for r in children if r.data.tags["sweeper.seed"] == "2")
    assert running.data.tags["sweeper.status"] == "running" and running.info.status == "RUNNING"
    assert [m.step for m in client.get_metric_history(running.info.run_id, "val_acc")] == [4, 8]

    # the seed ends: its row is committed, its curves move to curves.csv, its live file goes
    trials = pd.read_csv(folder / "trials.csv")
    trials = pd.concat([trials, trials.query("trial == 'cfg001' and seed == 1").assign(seed=2)])
    trials.to_csv(folder / "trials.csv", index=False)
    curves = pd.read_csv(folder / "curves.csv")
    pd.concat([curves, curves.query("trial == 'cfg001' and seed == 1").assign(seed=2)]).to_csv(
        folder / "curves.csv", index=False)
    (folder / "live" / "cfg001.2.csv").unlink()
    write_progress(folder, "finished")
    mlflow_sync.sync(folder, server)  # another process: it finds the run by its tags
    parents, children = nested(client, folder)
    assert len(children) == len(trials) == 5
    done = client.get_run(running.info.run_id)
    assert done.data.tags["sweeper.status"] == "ok" and done.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(done.info.run_id, "val_acc")]
    assert steps == [4, 8]
    assert parents[0].info.status == "FINISHED"
