"""Hostile inputs on the CI and MLflow surfaces: metric and view names MLflow refuses, bad run
references, unusable tracking URIs and summary files. Each is one line or a name MLflow takes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import BookclipError, ConfigError
from harness.tracking import _file_name, fetch_report, mlflow_name, mlflow_names

ALLOWED = re.compile(r"^[A-Za-z0-9_\-. /:]+$")  # what MLflow accepts in a metric, param or tag name


@pytest.mark.parametrize(
    "key",
    [
        "cross:Self Help & <Wellness>/image_to_text/recall@5",
        "cross:Bücher\u202e/text_to_image/mrr",
        "probes/typo@title_hidden/lost@5",
        "cross/zero_shot/recall[Health & Care]",
        "x\n::error::y/z",
    ],
)
def test_every_report_key_becomes_a_name_mlflow_takes(key):
    name = mlflow_name(key)
    assert ALLOWED.match(name), name
    assert "_at_" in name or "@" not in key


def test_keys_that_clean_to_the_same_metric_name_stay_apart():
    keys = ["cross:A&B/image_to_text/recall@5", "cross:A_B/image_to_text/recall@5", "cross:A<B/image_to_text/recall@5"]
    names = mlflow_names([*keys, "cross:A_B/image_to_text/recall_at_5.2"])
    assert len(set(names.values())) == 4 and all(ALLOWED.match(n) for n in names.values())
    assert mlflow_names(reversed(keys)) == mlflow_names(keys)  # the same names whatever order a run holds them in


def test_colliding_keys_are_logged_apart_and_mapped_back(tracking, tmp_path, monkeypatch):
    """Two categories whose keys clean to one MLflow name: both metrics reach the real store, and
    bookclip/metric_names.json says which key each name holds."""
    import json

    from harness.evaluate.stats import Estimate
    from harness.report.model import RunReport
    from harness.tracking import log_report

    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)  # log_report sets these defaults; undone after the test
    first, second = "cross:A&B/image_to_text/recall@5", "cross:A_B/image_to_text/recall@5"
    report = RunReport(kind="eval", run_id="collide", models={"candidate": {"spec": "tiny:vit-xs"}})
    report.metrics = {"candidate": {first: Estimate(0.25, 0.2, 0.3, 40), second: Estimate(0.75, 0.7, 0.8, 40)}}
    run_id = log_report(report, [report.write(tmp_path / "run.json")])
    names = json.loads(
        Path(tracking.download_artifacts(run_id, "bookclip/metric_names.json", str(tmp_path))).read_text()
    )
    (child,) = tracking.search_runs(
        [tracking.get_run(run_id).info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    by_key = {names[name]: value for name, value in child.data.metrics.items() if name in names}
    assert by_key == {first: 0.25, second: 0.75}


def test_view_names_that_clean_to_the_same_file_name_stay_apart():
    taken: set[str] = set()
    names = [
        _file_name(k, taken) for k in ("cross:A&B/image_to_text", "cross:A B/image_to_text", "cross:A_B/image_to_text")
    ]
    assert len(set(names)) == 3 and all(re.fullmatch(r"[A-Za-z0-9_.-]+", n) for n in names)


def test_mlflow_reference_without_a_run_id_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="needs a run id") as info:
        fetch_report("mlflow:", tmp_path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:1", "http://[::1", "https://bookclip.invalid"])
def test_an_unusable_tracking_uri_is_one_line(uri, tmp_path):
    # `report --against mlflow:ID` needs the server: one line naming it, exit 2
    from harness.report.model import RunReport

    RunReport(kind="eval").write(tmp_path / "run.json")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "run.json", "--against", "mlflow:abc"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "mlflow" in proc.stderr.lower()


def test_tracking_errors_are_bookclip_errors():
    from harness.tracking import TrackingError

    assert issubclass(TrackingError, BookclipError)
