"""`bookclip finetune` end to end: a run that succeeds, a worker that raises, no Java."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow

_SMALL = [
    "--categories",
    "Medical",
    "--baseline",
    "tiny:vit-xs",
    "--max-train-rows",
    "64",
    "--batch-size",
    "16",
    "--max-steps",
    "3",
    "--precision",
    "fp32",
]


def test_inline_run_prints_manifest_and_writes_jsonl_log(fixture_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["finetune", "--data", str(fixture_dir), "--out", str(out), "--launcher", "inline", "--json", *_SMALL])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["steps"] == 3 and Path(manifest["checkpoint"]) == out / "model.safetensors"
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all({"loss", "lr", "samples_per_s"} <= set(r) for r in records)


@pytest.mark.spark
def test_worker_that_raises_exits_non_zero_with_one_line(fixture_dir: Path, tmp_path: Path) -> None:
    """In a subprocess, so its stderr is the whole command's: the JVM's and Spark's startup lines and pyspark's
    warnings (pandas >= 3) would show there too; the one line is all the user sees."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "finetune",
            "--data",
            str(fixture_dir),
            "--out",
            str(out),
            "--launcher",
            "spark-local",
            "--num-processes",
            "2",
            "--fail-at-step",
            "2",
            "--fail-rank",
            "1",
            *_SMALL,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0
    assert len(err) == 1, proc.stderr[-3000:]
    assert err[0].startswith("bookclip: error: fine-tune worker rank 1 failed: FinetuneError: injected failure")
    assert proc.stdout == ""
    assert not (out / "model.safetensors").exists() and not (out / "manifest.json").exists()


def test_no_java_says_use_torchrun(fixture_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-jdk"), "PATH": os.path.dirname(sys.executable)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "finetune",
            "--data",
            str(fixture_dir),
            "--out",
            str(tmp_path / "run"),
            "--launcher",
            "spark-local",
            *_SMALL,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Java" in lines[0] and "--launcher torchrun" in lines[0]
