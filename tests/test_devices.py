"""Which worker trains on which device: the plan (a pure function), its printout and its
refusals, the slots workers take, the row's device label, and Dask's GPU resource."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeper import Study
from sweeper.errors import RunError, StudyError
from sweeper.execution import devices
from sweeper.execution.devices import DevicePlan, plan_devices
from sweeper.execution.executors import _claim_device, declares_gpus
from sweeper.schedules.groups import GROUP_MODELS, models_that_fit

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_one_worker_per_gpu_each_on_its_own(gpus):
    plan = plan_devices(gpus, None)
    assert plan.devices == tuple(f"cuda:{i}" for i in range(gpus))
    assert plan.workers == plan.gpus == gpus and plan.pinned


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_half_a_gpu_a_trial_runs_two_workers_a_gpu(gpus):
    plan = plan_devices(gpus, None, 0.5)
    assert plan.workers == 2 * gpus
    assert all(plan.devices.count(f"cuda:{i}") == 2 for i in range(gpus))
    assert plan.devices[:gpus] == tuple(f"cuda:{i}" for i in range(gpus))  # round the GPUs first


def test_fewer_jobs_than_slots_spread_over_the_gpus():
    assert plan_devices(8, 3, 0.5).devices == ("cuda:0", "cuda:1", "cuda:2")
    assert plan_devices(2, 3, 0.25).devices == ("cuda:0", "cuda:1", "cuda:0")


def test_a_share_that_does_not_divide_a_gpu_rounds_down():
    assert plan_devices(1, None, 0.4).workers == 2
    assert plan_devices(1, None, 1 / 3).workers == 3


def test_cuda_visible_devices_names_the_physical_gpu():
    plan = plan_devices(devices.physical_names(2, "2,3"), None)
    assert plan.devices == ("cuda:0", "cuda:1")
    assert [plan.label(d) for d in plan.devices] == ["cuda:0 (GPU 2)", "cuda:1 (GPU 3)"]
    assert plan_devices(2, None).label("cuda:1") == "cuda:1"  # torch's index is the GPU's own
    assert devices.row_device(0, ["2", "3"], "NVIDIA H100") == "cuda:0 (GPU 2, NVIDIA H100)"
    assert devices.row_device(1, ["0", "1"], "NVIDIA H100") == "cuda:1 (NVIDIA H100)"


def test_physical_names_from_the_environment():
    assert devices.physical_names(2, None) == ["0", "1"]
    assert devices.physical_names(2, "3, 5,7") == ["3", "5"]  # torch sees the first two only if so
    assert devices.physical_names(1, "GPU-1a2b") == ["GPU-1a2b"]
    assert devices.physical_names(0, "") == []


def test_no_gpu_is_one_worker_per_core_or_per_job():
    assert plan_devices([], None, cores=6) == DevicePlan(("cpu",) * 6)
    assert plan_devices(0, 3, cores=6).devices == ("cpu",) * 3
    assert plan_devices(0, None, 0.5, cores=2).lines() == ["2 workers on the CPU"]


def test_more_jobs_than_the_gpus_hold_is_refused_with_the_fix():
    with pytest.raises(RunError, match=r"--jobs 9 .* 8 GPUs hold at --gpus-per-trial 1 \(8\); pass --jobs 8 or less, "
                                       r"or --gpus-per-trial 0.5"):
        plan_devices(8, 9)
    assert plan_devices(8, 16, 0.5).workers == 16


@pytest.mark.parametrize("share", [0, 3, -1, 1.5, float("nan"), True, "0.5"])
def test_bad_shares_are_refused(share):
    with pytest.raises(RunError, match="more than 0 and at most 1"):
        plan_devices(2, None, share)


def test_without_a_gpu_driver_nothing_imports_torch_to_plan(monkeypatch):
    monkeypatch.setattr(devices.sys, "platform", "linux")
    monkeypatch.setattr(devices.os.path, "exists", lambda path: False)
    monkeypatch.setitem(sys.modules, "torch", None)  # an import of torch would fail
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "0"}) == []
    assert devices.plan_for("auto", None, 1.0, pinned=True, cores=4).devices == ("cpu",) * 4


def test_a_dask_plan_is_not_pinned_and_says_so():
    plan = DevicePlan(("cuda",) * 4, ("0", "1"), 0.5, pinned=False)
    assert plan.lines() == ["4 tasks at once, each on its worker's own device; tasks ask for GPU=0.5 where "
                            "workers declare it"]


def test_workers_take_free_slots_and_a_dead_workers_slot_is_taken_again(tmp_path):
    plan = ("cuda:0", "cuda:1")
    assert _claim_device(plan, str(tmp_path)) == "cuda:0"  # flock is per open file: a second claim
    assert _claim_device(plan, str(tmp_path)) == "cuda:1"  # in this process is another worker's
    assert _claim_device(plan, str(tmp_path), wait=0) == "cuda:0"  # every slot held: the first device
    child = subprocess.run([sys.executable, "-c", "import sys; from sweeper.execution.executors import _claim_device; "
                            f"print(_claim_device({plan!r}, {str(tmp_path)!r}, wait=0))"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "cuda:0"  # held in this process: the child waits in vain, gets the first


def test_a_slot_is_free_again_once_its_worker_exits(tmp_path):
    code = ("from sweeper.execution.executors import _claim_device; "
            f"print(_claim_device(('cuda:0', 'cuda:1'), {str(tmp_path)!r}, wait=0))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True) for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["cuda:0", "cuda:0"]  # the first exited: its slot is free


def test_dask_tasks_ask_for_gpus_only_where_workers_declare_them():
    assert declares_gpus({"tcp://a": {"resources": {"GPU": 1}}, "tcp://b": {"resources": {}}})
    assert not declares_gpus({"tcp://a": {"resources": {}}, "tcp://b": {}})
    assert not declares_gpus({})


def test_stacked_groups_are_sized_to_the_gpus_free_memory():
    gib = 2**30
    assert models_that_fit(80 * gib, 25_000, seeds=5) == GROUP_MODELS  # the course's MLP: memory never binds
    # half of 1 GiB kept back, 16 bytes a parameter, 5 seeds a model: 536870912 // (1e6 * 16 * 5) = 6
    assert models_that_fit(gib, 1_000_000, seeds=5) == 6
    assert models_that_fit(gib, 100_000_000, seeds=5) == 1  # too big for one: still one model a group
    assert models_that_fit(gib, 0) == GROUP_MODELS


def test_gpus_per_trial_is_a_study_field_outside_its_identity():
    base = dict(name="t", dataset="digits", space={"learning_rate": [0.1]}, seeds=2)
    half = Study(**base, gpus_per_trial=0.5)
    assert half.gpus_per_trial == 0.5 and half.to_dict()["gpus_per_trial"] == 0.5
    assert half.fingerprint() == Study(**base).fingerprint()
    for bad in (0, 2, -1):
        with pytest.raises(StudyError, match=rf"field `gpus_per_trial` = {bad} is not allowed"):
            Study(**base, gpus_per_trial=bad)


def _sweep(*args: str, gpus: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SWEEPER_PLAN_GPUS", None)
    if gpus is not None:
        env["SWEEPER_PLAN_GPUS"] = gpus
    return subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "studies/lr_momentum.py", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_plan_of_an_eight_gpu_machine_is_printed_without_training(tmp_path):
    out = _sweep("--plan", "--device", "cuda", "--gpus-per-trial", "0.5", "--results", str(tmp_path), gpus="8")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1] == "  8 GPUs, 2 workers a GPU (--gpus-per-trial 0.5): 16 workers"
    assert lines[2] == "  worker 0: cuda:0" and lines[17] == "  worker 15: cuda:7"
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_the_plan_names_the_physical_gpus_of_cuda_visible_devices():
    out = _sweep("--plan", gpus="2,3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2:] == ["  worker 0: cuda:0 (GPU 2)", "  worker 1: cuda:1 (GPU 3)"]


@pytest.mark.parametrize("share", ["0", "3", "-1", "half"])
def test_bad_gpus_per_trial_is_one_line_and_exit_2(share):
    out = _sweep("--plan", f"--gpus-per-trial={share}", gpus="2")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"sweep: error: --gpus-per-trial {share} is not allowed; it must be more "
                                       "than 0 and at most 1 (0.5: two trials share a GPU; a trial trains on one GPU)"]


def test_too_many_jobs_for_the_gpus_is_one_line_and_exit_2():
    out = _sweep("--plan", "--jobs", "3", gpus="2")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "--jobs 3 asks for more workers than 2 GPUs hold" in out.stderr


def test_the_gpu_check_says_there_is_no_gpu_and_exits_0(monkeypatch, capsys):
    from bench import gpu_check

    monkeypatch.setattr(devices, "visible_gpus", lambda environ=None: [])
    assert gpu_check.main([]) == 0
    assert capsys.readouterr().out.startswith("no GPU here: nothing to check")


@pytest.mark.parametrize(("declared", "share", "asked"), [({"GPU": 1}, 0.5, {"GPU": 0.5}), ({}, 0.5, None),
                                                            ({"GPU": 1}, None, None)])
def test_dask_tasks_carry_the_gpu_resource_only_where_workers_declare_it(declared, share, asked):
    distributed = pytest.importorskip("distributed")
    from sweeper.execution.executors import DaskExecutor

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                                  resources=declared) as cluster:
        pool = DaskExecutor(1, scheduler=cluster.scheduler_address)
        pool.gpu_share = share
        try:
            future = pool.submit(abs, -3)
            assert future.result(timeout=30) == 3  # a GPU=1 worker runs a task asking for half of it
            assert cluster.scheduler.tasks[future.key].resource_restrictions == asked
        finally:
            pool.shutdown()


def _device_of_a_busy_worker(folder: str) -> tuple[int, str | None]:
    """The worker's pid and device, once two workers run a task each (so neither takes both)."""
    import time

    from sweeper.execution import executors

    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(Path(folder).iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.getpid(), executors.worker_device


@pytest.mark.slow  # starts two worker processes that import torch
def test_local_workers_each_take_their_own_slot_of_the_plan(tmp_path):
    from sweeper.execution.executors import LocalExecutor

    pool = LocalExecutor(2)
    pool.devices = ("gpu-a", "gpu-b")  # not cuda: nothing to set, only the slots to take
    try:
        futures = [pool.submit(_device_of_a_busy_worker, str(tmp_path)) for _ in range(2)]
        seen = dict(f.result(timeout=120) for f in futures)
    finally:
        pool.shutdown()
    assert len(seen) == 2 and sorted(seen.values()) == ["gpu-a", "gpu-b"]
