"""TorchDistributor launchers with real Spark: local mode and barrier tasks on local[2]."""

from __future__ import annotations

import pytest

from harness.errors import FinetuneError
from harness.finetune.launch import launch
from harness.finetune.runlog import RunFiles
from harness.models import load

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


def test_cli_spark_local_two_processes_logs_each_step_once_to_mlflow(spark, small_config, tracking, capsys) -> None:
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
        "--mlflow",
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    run_id = err.split("logged to MLflow run ", 1)[1].split()[0]
    steps = [r["step"] for r in RunFiles(cfg.out).read_train_log()]
    assert len(steps) >= 2
    children = tracking.search_runs(
        [tracking.get_run(run_id).info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    candidate = next(c for c in children if c.info.run_name == "candidate")
    history = tracking.get_metric_history(candidate.info.run_id, "train/loss")
    assert sorted(m.step for m in history) == steps  # each logged step once, not once per process
    parent = tracking.get_run(run_id)
    assert parent.data.params["finetune.world_size"] == "2" and parent.data.params["finetune.launcher"] == "spark-local"
    files = {a.path for a in tracking.list_artifacts(run_id, "bookclip/model")}
    assert files == {"bookclip/model/model.safetensors", "bookclip/model/manifest.json"}


def test_spark_cluster_two_barrier_tasks(spark, small_config) -> None:
    cfg = small_config(launcher="spark-cluster", num_processes=2, max_steps=6)
    _check_trained(launch(cfg), cfg)


def test_spark_cluster_checks_slots_and_gpu_conf_first(spark, small_config) -> None:
    with pytest.raises(FinetuneError, match="task slots"):
        launch(small_config(launcher="spark-cluster", num_processes=4, batch_size=16))
    with pytest.raises(FinetuneError, match="spark.task.resource.gpu.amount"):
        launch(small_config(launcher="spark-cluster", num_processes=2, use_gpu=True))
