"""`bookclip report RUN --against mlflow:<run id>`: the logged run report is a reference like its file.
Against a real tracking server (the `tracking` fixture), never a mock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def report_json(*args: str, cwd: Path) -> tuple[int, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_against_a_logged_run_gives_the_verdict_of_against_its_file(make_run, tracking, tmp_path, monkeypatch):
    from harness.tracking import log_report

    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)  # log_report sets these defaults; undone after the test
    # a reference a degraded run regresses from: the verdict compared is not the trivial "clean"
    main = make_run("good", seed=1)
    main_file = main.write(tmp_path / "main.json")
    run_file = make_run("degraded", seed=2).write(tmp_path / "run.json")
    run_id = log_report(main, [main_file])

    by_file = report_json("run.json", "--against", "main.json", cwd=tmp_path)
    by_mlflow = report_json("run.json", "--against", f"mlflow:{run_id}", cwd=tmp_path)
    assert by_file[0] == by_mlflow[0] == 1  # the exit code says regression both ways
    (_, file_result), (_, mlflow_result) = by_file, by_mlflow
    assert file_result["verdict"] == mlflow_result["verdict"] == "regression"
    assert mlflow_result["regressions"] == file_result["regressions"] and len(file_result["regressions"]) >= 5
    # every metric's change and status, every gate's: the whole comparison but where each run came from
    for key in ("metrics", "gates", "warnings", "worst_items"):
        assert mlflow_result[key] == file_result[key], key
    assert mlflow_result["main"]["run_id"] == file_result["main"]["run_id"] == main.run_id
    assert run_file.is_file()
