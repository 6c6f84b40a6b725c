"""MLflow tracking against a real tracking server (sqlite store), read back through MlflowClient."""

from __future__ import annotations

import json
import math
import shutil
import socket
import struct
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


def bits(value: float) -> bytes:
    return struct.pack("<d", value)  # bit for bit: 0.0 and -0.0 differ, as MLflow would store them


def expected_metrics(report: dict, role: str) -> dict[str, float]:
    """What the role's nested run must hold, computed from run.json alone: each metric with its CI and,
    for a compared role, each delta with its CI and p-value (non-finite numbers are null, left out)."""
    expected: dict[str, float] = {}
    fields = (("", "value"), ("/ci_low", "ci_low"), ("/ci_high", "ci_high"))
    for key, est in report["metrics"][role].items():
        for suffix, field in fields:
            if isinstance(est.get(field), (int, float)) and math.isfinite(est[field]):
                expected[f"{mlflow_name(key)}{suffix}"] = float(est[field])
    for key, d in report["comparisons"].get(role, {}).items():
        for suffix, field in (("", "delta"), *fields[1:], ("/p_value", "p_value")):
            if isinstance(d.get(field), (int, float)) and math.isfinite(d[field]):
                expected[f"delta/{mlflow_name(key)}{suffix}"] = float(d[field])
    return expected


def bookclip(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )


# an in-process client of a sqlite store: MLflow's own use of SQLAlchemy, not bookclip's
SQLITE_STORE_WARNING = "ignore:The ``noload`` loader strategy:DeprecationWarning"


def default_store(folder: Path):
    """A client of the store MLflow uses when MLFLOW_TRACKING_URI is unset, run from `folder`
    (this MLflow's own default, whatever it is: a sqlite file or ./mlruns in the working folder)."""
    import os

    from mlflow.tracking import MlflowClient

    assert "MLFLOW_TRACKING_URI" not in os.environ and Path.cwd() == folder
    return MlflowClient()


def check_nested_runs(client, report: dict) -> str:
    """One parent run for the report, one nested run per role holding its metrics bit for bit."""
    parent = parent_run(client, report["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == sorted(report["models"])
    for child in children:
        expected = expected_metrics(report, child.info.run_name)
        assert expected and set(child.data.metrics) == set(expected)
        assert all(bits(child.data.metrics[name]) == bits(value) for name, value in expected.items())
    return parent.info.run_id


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
    assert parent.data.tags["bookclip.version"] == report["environment"]["versions"]["bookclip-harness"] != ""
    assert {k: v for k, v in parent.data.tags.items() if k.startswith("gate/")} == {
        f"gate/{mlflow_name(gate['metric'])}": gate["outcome"] for gate in report["gates"]
    }
    assert parent.data.params["seed"] == str(report["seed"]) and parent.data.params["engine"] == report["engine"]
    assert parent.data.params["data.fingerprint"] == report["data"]["fingerprint"]
    files = {a.path for a in tracking.list_artifacts(parent.info.run_id, "bookclip")}
    assert {"bookclip/run.json", "bookclip/run.html", "bookclip/per_query"} <= files
    logged_json = Path(tracking.download_artifacts(parent.info.run_id, "bookclip/run.json", str(root / "logged")))
    assert logged_json.read_bytes() == run_json.read_bytes()
    # the way back from an MLflow name to the report's key: every key of the run, none cleaned to another's name
    names = json.loads(Path(tracking.download_artifacts(parent.info.run_id, "bookclip/metric_names.json")).read_text())
    keys = {key for role in report["metrics"].values() for key in role} | {g["metric"] for g in report["gates"]}
    assert names == {mlflow_name(key): key for key in keys} and len(names) == len(keys)
    # the per-query ranks, one MLflow table per view and direction, read back as MLflow reads a table
    tables = {a.path for a in tracking.list_artifacts(parent.info.run_id, "bookclip/per_query")}
    assert len(tables) == len(report["per_query"])
    ranks = report["per_query"]["heldout/image_to_text"]
    table = tracking.load_table(
        parent.info.experiment_id, "bookclip/per_query/heldout.image_to_text.json", run_ids=[parent.info.run_id]
    )
    assert table["item_id"].tolist() == ranks["item_ids"] and table["title"].tolist() == ranks["titles"]
    for role in ("baseline", "candidate"):
        assert table[f"rank_{role}"].tolist() == ranks["ranks"][role]

    children = tracking.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == ["baseline", "candidate"]
    for child in children:
        role = child.info.run_name
        model = report["models"][role]
        assert child.data.params == {k: model[k] for k in ("spec", "fingerprint", "identity")} and model["identity"]
        expected = expected_metrics(report, role)
        assert len(expected) > 40 and set(child.data.metrics) == set(expected)  # every metric, nothing else
        for name, value in expected.items():
            assert bits(child.data.metrics[name]) == bits(value), name
    assert any(k.startswith("delta/") for k in expected_metrics(report, "candidate"))

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
    shutil.rmtree(root / "reports")  # so the files read below are the second run's own
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    down = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "cross_category")
    assert down.ret == without.ret == 1
    assert (root / "reports" / "run.html").is_file()  # the run's own files are written whatever the server
    assert [g["outcome"] for g in json.loads((root / "reports" / "run.json").read_text())["gates"]] == outcomes
    assert "FAIL" in outcomes
    warnings = [line for line in down.stdout.lines + down.stderr.lines if "MLflow" in line]
    assert len(warnings) == 1 and dead in warnings[0] and "cannot be reached" in warnings[0], warnings
    assert warnings[0].startswith("bookclip: warning: not logged to MLflow: ")
    assert "Traceback" not in down.stdout.str() + down.stderr.str()


@pytest.mark.slow
@pytest.mark.filterwarnings(SQLITE_STORE_WARNING)
def test_a_commands_mlflow_flag_turns_tracking_on_and_a_dead_server_changes_nothing(tmp_path, monkeypatch):
    from harness.data import fixture_catalogue

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    args = ["compare", "fixtures:tiny-baseline", "tiny:vit-xs@7", "--data", str(fixture_catalogue())]
    args += ["--resamples", "100", "--no-zero-shot"]
    plain = bookclip(*args, "--out", "plain.json", cwd=tmp_path)
    assert plain.returncode == 0 and "MLflow" not in plain.stderr  # off unless asked for
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()

    logged = bookclip(*args, "--out", "cmp.json", "--mlflow", cwd=tmp_path)
    assert logged.returncode == 0, logged.stderr
    said = [line for line in logged.stderr.splitlines() if line.startswith("bookclip:")]
    assert len(said) == 1 and said[0].startswith("bookclip: logged to MLflow run "), logged.stderr
    run_id = check_nested_runs(default_store(tmp_path), json.loads((tmp_path / "cmp.json").read_text()))
    assert run_id in said[0]

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = bookclip(*args, "--out", "down.json", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": dead})
    assert down.returncode == plain.returncode == 0
    warnings = [line for line in (down.stdout + down.stderr).splitlines() if "MLflow" in line]
    assert len(warnings) == 1 and warnings[0].startswith("bookclip: warning: not logged to MLflow: "), down.stderr
    down_report, plain_report = (json.loads((tmp_path / name).read_text()) for name in ("down.json", "plain.json"))
    for part in ("metrics", "comparisons", "gates"):  # the same run, logged or not
        assert down_report[part] == plain_report[part], part


@pytest.mark.slow
@pytest.mark.filterwarnings(SQLITE_STORE_WARNING)
def test_mlflow_true_under_tool_bookclip_turns_tracking_on(pytester, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copytree(ROOT / "suites", pytester.path / "suites")
    pytester.makefile(".toml", pyproject=PROJECT.replace("resamples = 100\n", "resamples = 100\nmlflow = true\n"))
    result = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider", "-k", "cross_category")
    assert result.ret == 1 and result.stdout.str().count("bookclip: logged to MLflow run ") == 1
    check_nested_runs(default_store(pytester.path), json.loads((pytester.path / "reports" / "run.json").read_text()))
