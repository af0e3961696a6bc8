"""`sweep serve`'s server, run for real on 127.0.0.1: what it answers, and what it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from live_server import get, running  # noqa: E402
from synthetic_results import write_live, write_progress, write_results  # noqa: E402

from tests.conftest import ROOT  # noqa: E402


@pytest.fixture
def root(tmp_path):
    write_results(tmp_path / "results" / "grid", {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}, seeds=3)
    write_results(tmp_path / "results" / "other", {"momentum": [0.0, 0.9]}, seeds=2)
    (tmp_path / "secret.txt").write_text("not results")
    return tmp_path / "results"


def api(base, path, **headers):
    status, body, _ = get(base + path, headers=headers)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def table(base, study, timeout=30.0):
    """The study's state once its table is computed (the server computes it in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        state = api(base, f"/api/studies/{study}")
        if not state["table"]["pending"] and state["table"]["rows"]:
            return state
        assert time.monotonic() < deadline, state["table"]
        time.sleep(0.1)


def test_studies_table_and_curves_with_the_epochs_of_running_seeds(root):
    write_progress(root / "grid", "running", planned=15, done=12, eta_seconds=30)
    write_live(root / "grid", "cfg000", 3, [1])  # a fourth seed, one epoch in
    write_live(root / "grid", "cfg999", 0, [1, 2])  # a configuration none of whose seeds has finished
    with running(root) as base:
        studies = api(base, "/api/studies")["studies"]
        assert [s["name"] for s in studies] == ["grid", "other"]
        assert studies[0] | {"state": "running", "done": 12, "planned": 15, "eta_seconds": 30} == studies[0]
        state = table(base, "grid")
        assert len(state["table"]["rows"]) == 4 and state["table"]["rows"][0]["rank"] == 1
        assert "verdict" in state["table"]["columns"] and state["table"]["verdicts"]
        assert "answer" in state["table"]  # where the one-sentence answer goes
        assert {(r["trial"], r["seed"], r["epoch"]) for r in state["running"]} == {("cfg000", 3, 1), ("cfg999", 0, 2)}
        curves = api(base, "/api/studies/grid/curves?metric=val_acc")
        panels = {p["trial"]: p for p in curves["panels"]}
        assert curves["axis"] == "epoch" and set(panels) == {"cfg000", "cfg001", "cfg002", "cfg003", "cfg999"}
        assert panels["cfg000"]["n"] == [4, 3] and panels["cfg000"]["running_seeds"] == [3]
        assert panels["cfg999"]["x"] == [1, 2] and panels["cfg999"]["n"] == [1, 1]
        assert all(0 <= v <= 1 for p in curves["panels"] for v in p["low"] + p["high"] if v is not None)
        other = api(base, "/api/studies/other/curves?metric=val_loss")
        assert {p["trial"] for p in other["panels"]} == {"cfg000", "cfg001"}


def test_an_unchanged_answer_is_a_304_and_a_new_row_changes_it(root):
    with running(root) as base:
        table(base, "grid")
        status, _, headers = get(base + "/api/studies/grid")
        again = get(base + "/api/studies/grid", headers={"If-None-Match": headers["etag"]})
        assert again[0] == 304
        with (root / "grid" / "trials.csv").open("a") as f:  # a copy of a row, as a new seed
            f.write((root / "grid" / "trials.csv").read_text().splitlines()[1].replace("cfg000,0,", "cfg000,7,") + "\n")
        deadline = time.monotonic() + 30
        while get(base + "/api/studies/grid", headers={"If-None-Match": headers["etag"]})[0] == 304:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert table(base, "grid")["table"]["rows"] and api(base, "/api/studies")["studies"][0]["done"] == 13


@pytest.mark.parametrize("path", [
    "/files/grid/../other/trials.csv", "/files/grid/%2e%2e/%2e%2e/secret.txt", "/files/grid//etc/passwd",
    "/files/grid/%2Fetc%2Fpasswd", "/files/grid/link.txt", "/files/outside/trials.csv", "/api/studies/..",
    "/api/studies/%2E%2E", "/api/studies/outside", "/static/../serve.py", "/files/grid/nothing.csv",
])
def test_paths_outside_the_results_folder_are_refused(root, path):
    os.symlink(root.parent / "secret.txt", root / "grid" / "link.txt")
    write_results(root.parent / "elsewhere", {"momentum": [0.0]}, seeds=1)
    os.symlink(root.parent / "elsewhere", root / "outside", target_is_directory=True)  # a study that leads out
    with running(root) as base:
        status, body, _ = get(base + path)
        assert status in (404, 400), (status, body[:200])
        assert b"not results" not in body and b"root:" not in body
        assert get(base + "/files/grid/trials.csv")[0] == 200  # while what is inside is served


def test_a_study_whose_table_is_a_link_out_of_the_folder_is_refused(root):
    (root / "grid" / "trials.csv").rename(root.parent / "elsewhere.csv")
    os.symlink(root.parent / "elsewhere.csv", root / "grid" / "trials.csv")
    with running(root) as base:
        assert get(base + "/api/studies/grid")[0] == 404
        assert get(base + "/api/studies/other")[0] == 200


def test_only_get_and_only_this_machine_s_names(root):
    with running(root) as base:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert get(base + "/files/grid/trials.csv", method=method)[0] == 405
            assert get(base + "/api/studies/grid", method=method)[0] == 405
        assert get(base + "/api/studies", headers={"Host": "attacker.example"})[0] == 400  # DNS rebinding
        assert get(base + "/api/studies", headers={"Host": "localhost"})[0] == 200
    assert (root / "grid" / "trials.csv").exists()


def test_the_page_and_its_files_come_from_the_server_with_nothing_from_elsewhere(root):
    with running(root) as base:
        status, body, headers = get(base + "/")
        assert status == 200 and "default-src 'self'" in headers["content-security-policy"]
        page = body.decode()
        for src in ("static/uPlot.iife.min.js", "static/app.js", "static/style.css", "static/uPlot.min.css"):
            assert src in page and get(f"{base}/{src}")[0] == 200
        assert "http://" not in page and "https://" not in page


def test_serve_and_export_help_import_neither_server_nor_mlflow():
    code = ("import sys\nfrom sweeper.cli import main\nfor c in ('serve', 'export'):\n    try:\n        main([c, '--help'])\n"
            "    except SystemExit:\n        pass\nprint(sorted(m for m in ('starlette', 'uvicorn', 'mlflow', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip().endswith("[]") and "0.0.0.0" in out.stdout


def test_serve_of_a_missing_folder_and_export_without_a_target_are_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["serve", "--results", str(tmp_path / "none")], ["export", "x", "--results", str(tmp_path)]):
        out = subprocess.run([sys.executable, "-m", "sweeper.cli", *args], capture_output=True, text=True, env=env)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_the_documented_routes_give_the_table_led_by_verdict_the_importance_and_the_parallel_coordinates(root):
    """docs/guide/live-page-api.md: api/studies, api/studies/<name> (and its curves), the #study= link."""
    with running(root) as base:
        names = [s["name"] for s in api(base, "/api/studies")["studies"]]
        assert names == ["grid", "other"] and api(base, "/api/studies")["root"]
        t = table(base, "grid")["table"]
        assert t["columns"][:4] == ["rank", "val_acc mean [95% CI]", "verdict", "why"]
        assert t["columns"][4:6] == ["learning_rate", "momentum"]  # one column per hyperparameter, not one string
        assert "configuration" not in t["columns"]
        first = t["rows"][0]
        assert first["cells"][2] == "best" and first["label"].startswith("learning_rate=")
        bars = {b["source"]: b for b in t["importance"]["bars"]}
        assert {"learning_rate", "momentum", "seeds"} <= set(bars) and bars["seeds"]["kind"] == "seeds"
        assert sum(b["share"] for b in bars.values()) == pytest.approx(1.0, abs=1e-4)
        assert t["importance"]["line"].startswith(t["importance"]["bars"][0]["source"] + " explains ")
        parallel = t["parallel"]
        assert parallel["axes"] == ["learning_rate", "momentum", "val_acc"] and len(parallel["lines"]) == 4
        assert all(len(line["y"]) == 3 and 0 <= line["y"][-1] <= 1 for line in parallel["lines"])
        status, body, _ = get(base + "/static/app.js")  # the #study=<name> link is read by the page's script
        assert status == 200 and b"#study=" in body
        status, _, _ = get(base + "/api/studies/nothere")
        assert status == 404
