"""MLflow tracking against a real tracking server (sqlite store), read back through MlflowClient."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.tracking import mlflow_name

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = (
    '[tool.bookclip]\nbaseline = "fixtures:tiny-baseline"\ncandidate = "tiny:vit-xs@7"\nresamples = 100\n'
    '[tool.bookclip.gates]\n"cross/image_to_text/recall@5" = { non_inferior = 0.02 }\n'
    '"heldout/text_to_image/mrr" = { non_inferior = 0.01, tier = "warn" }\n'
)


def suites_project(pytester: pytest.Pytester) -> Path:
    shutil.copytree(ROOT / "suites", pytester.path / "suites")
    pytester.makefile(".toml", pyproject=PROJECT)
    return pytester.path


def parent_run(client, run_id: str):
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], filter_string=f"tags.`bookclip.run_id` = '{run_id}'"
    )
    assert len(runs) == 1, f"{len(runs)} parent runs for {run_id}"
    return runs[0]


def bookclip(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


@pytest.mark.slow
def test_suites_run_logs_one_parent_and_a_nested_run_per_role(tracking, pytester):
    root = suites_project(pytester)
    result = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "gate", "--bookclip-mlflow")
    assert result.ret == 1  # the random candidate fails its gate, with or without MLflow
    out = result.stdout.str()
    assert out.count("bookclip: logged to MLflow run ") == 1 and "View run" not in out
    assert "warnings summary" not in out  # logging adds no warning of its own
    run_json = root / "reports" / "run.json"
    report = json.loads(run_json.read_text())

    parent = parent_run(tracking, report["run_id"])
    assert parent.data.tags["bookclip.verdict"] == "FAIL"
    assert parent.data.tags["mlflow.source.git.commit"] == (report["environment"]["git"]["commit"] or "")
    for gate in report["gates"]:
        assert parent.data.tags[f"gate/{mlflow_name(gate['metric'])}"] == gate["outcome"]
    assert parent.data.params["seed"] == str(report["seed"]) and parent.data.params["engine"] == report["engine"]
    assert parent.data.params["data.fingerprint"] == report["data"]["fingerprint"]
    files = {a.path for a in tracking.list_artifacts(parent.info.run_id, "bookclip")}
    assert {"bookclip/run.json", "bookclip/run.html", "bookclip/per_query"} <= files
    tables = {a.path for a in tracking.list_artifacts(parent.info.run_id, "bookclip/per_query")}
    assert "bookclip/per_query/heldout.image_to_text.json" in tables

    children = tracking.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == ["baseline", "candidate"]
    for child in children:
        role = child.info.run_name
        assert child.data.params["spec"] == report["models"][role]["spec"]
        assert child.data.params["fingerprint"] == report["models"][role]["fingerprint"]
        logged = child.data.metrics
        for key, est in report["metrics"][role].items():
            if est["value"] is not None:
                assert logged[mlflow_name(key)] == est["value"], key  # bit for bit
                assert logged[f"{mlflow_name(key)}/ci_low"] == est["ci_low"], key
        for key, d in report["comparisons"].get(role, {}).items():
            assert logged[f"delta/{mlflow_name(key)}"] == d["delta"], key

    # the logged report is a reference like a file: the same regression verdict either way
    by_file = bookclip("report", str(run_json), "--against", str(run_json), "--json")
    by_mlflow = bookclip("report", str(run_json), "--against", f"mlflow:{parent.info.run_id}", "--json")
    assert by_file.returncode == by_mlflow.returncode, by_mlflow.stderr
    file_result, mlflow_result = json.loads(by_file.stdout), json.loads(by_mlflow.stdout)
    assert mlflow_result["verdict"] == file_result["verdict"]
    assert mlflow_result["regressions"] == file_result["regressions"]
    missing = bookclip("report", str(run_json), "--against", "mlflow:0123456789abcdef")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_an_unreachable_server_costs_one_warning_line_and_changes_nothing(pytester, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    root = suites_project(pytester)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    without = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "cross_category")
    outcomes = [g["outcome"] for g in json.loads((root / "reports" / "run.json").read_text())["gates"]]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    down = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "cross_category")
    assert down.ret == without.ret == 1
    assert [g["outcome"] for g in json.loads((root / "reports" / "run.json").read_text())["gates"]] == outcomes
    warnings = [line for line in down.stdout.lines if "not logged to MLflow" in line]
    assert len(warnings) == 1 and dead in warnings[0] and "cannot be reached" in warnings[0]
    assert "Traceback" not in down.stdout.str() + down.stderr.str()
