"""TorchDistributor launchers with real Spark: local mode and barrier tasks on local[2]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import FinetuneError
from harness.finetune.launch import launch
from harness.finetune.runlog import RunFiles
from harness.models import load
from harness.tracking import mlflow_name

pytestmark = [pytest.mark.slow, pytest.mark.spark]


@pytest.fixture(scope="module")
def spark():
    from harness.spark import get_or_create_session

    return get_or_create_session(master="local[2]")


def _check_trained(manifest, cfg) -> None:
    log = RunFiles(cfg.out).read_train_log()
    assert manifest.steps == cfg.max_steps and manifest.world_size == 2
    assert log[-1]["loss"] < log[0]["loss"]
    trained = load(manifest.checkpoint)  # the driver loads from the path the workers wrote
    assert trained.fingerprint == manifest.fingerprint != load(cfg.baseline).fingerprint


def test_spark_local_two_processes(spark, small_config) -> None:
    cfg = small_config(launcher="spark-local", num_processes=2, max_steps=6)
    _check_trained(launch(cfg), cfg)


def test_cli_spark_local_two_processes_logs_each_step_once_to_mlflow(
    spark, small_config, tracking, capsys, tmp_path
) -> None:
    from harness.cli import main

    cfg = small_config()
    args = [
        "finetune",
        "--data",
        *cfg.data,
        "--out",
        cfg.out,
        "--categories",
        "Medical",
        "--baseline",
        "tiny:vit-xs",
        "--max-train-rows",
        "64",
        "--batch-size",
        "16",
        "--max-steps",
        "5",
        "--precision",
        "fp32",
        "--launcher",
        "spark-local",
        "--num-processes",
        "2",
        "--evaluate",
        "--mlflow",
    ]
    assert main(args) == 0  # the command docs/mlflow.md shows, on a small catalogue
    err = capsys.readouterr().err
    run_id = err.split("logged to MLflow run ", 1)[1].split()[0]
    files = RunFiles(cfg.out)
    log = files.read_train_log()
    # 5 steps log every step (train.py logs every max(1, min(10, steps // 20)) steps): each exactly once
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    children = tracking.search_runs(
        [tracking.get_run(run_id).info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == ["baseline", "candidate"]
    candidate = next(c for c in children if c.info.run_name == "candidate")
    history = tracking.get_metric_history(candidate.info.run_id, "train/loss")
    # each step once, not once per process: two ranks logging would give each step twice
    assert sorted((m.step, m.value) for m in history) == [(r["step"], r["loss"]) for r in log]
    parent = tracking.get_run(run_id)
    manifest = json.loads(files.manifest.read_text())
    assert parent.data.params["finetune.world_size"] == "2" and parent.data.params["finetune.launcher"] == "spark-local"
    assert parent.data.params["finetune.recipe_hash"] == manifest["recipe_hash"] != ""
    assert parent.data.params["finetune.recipe.max_steps"] == "5"
    assert parent.data.params["finetune.recipe.categories"] == "Medical"
    logged = {a.path for a in tracking.list_artifacts(run_id, "bookclip/model")}
    assert logged == {"bookclip/model/model.safetensors", "bookclip/model/manifest.json"}
    for local in (files.model, files.manifest):  # the files themselves, byte for byte
        fetched = tracking.download_artifacts(run_id, f"bookclip/model/{local.name}", str(tmp_path))
        assert Path(fetched).read_bytes() == local.read_bytes()
    # --evaluate: its report is the run's run.json, and its deltas are the candidate's, unrounded
    evaluation = files.root / "evaluation.json"
    assert Path(tracking.download_artifacts(run_id, "bookclip/run.json", str(tmp_path))).read_bytes() == (
        evaluation.read_bytes()
    )
    deltas = json.loads(evaluation.read_text())["comparisons"]["candidate"]
    assert deltas and all(candidate.data.metrics[f"delta/{mlflow_name(k)}"] == d["delta"] for k, d in deltas.items())


def test_spark_cluster_two_barrier_tasks(spark, small_config) -> None:
    cfg = small_config(launcher="spark-cluster", num_processes=2, max_steps=6)
    _check_trained(launch(cfg), cfg)


def test_spark_cluster_checks_slots_and_gpu_conf_first(spark, small_config) -> None:
    with pytest.raises(FinetuneError, match="task slots"):
        launch(small_config(launcher="spark-cluster", num_processes=4, batch_size=16))
    with pytest.raises(FinetuneError, match="spark.task.resource.gpu.amount"):
        launch(small_config(launcher="spark-cluster", num_processes=2, use_gpu=True))
