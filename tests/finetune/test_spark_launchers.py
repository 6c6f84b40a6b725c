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


def test_spark_cluster_two_barrier_tasks(spark, small_config) -> None:
    cfg = small_config(launcher="spark-cluster", num_processes=2, max_steps=6)
    _check_trained(launch(cfg), cfg)


def test_spark_cluster_checks_slots_and_gpu_conf_first(spark, small_config) -> None:
    with pytest.raises(FinetuneError, match="task slots"):
        launch(small_config(launcher="spark-cluster", num_processes=4, batch_size=16))
    with pytest.raises(FinetuneError, match="spark.task.resource.gpu.amount"):
        launch(small_config(launcher="spark-cluster", num_processes=2, use_gpu=True))
