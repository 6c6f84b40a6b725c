"""Hostile inputs on the CI and MLflow surfaces: metric and view names MLflow refuses, bad run
references, unusable tracking URIs and summary files. Each is one line or a name MLflow takes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness.errors import BookclipError, ConfigError
from harness.tracking import _file_name, fetch_report, mlflow_name

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
