"""The launchers: how `train.main` is started, one function each; `launch` picks one by name.

spark-local (TorchDistributor, local_mode=True), spark-cluster (TorchDistributor on the session's
executors), torchrun (plain `torch.distributed.run`, no Java needed) and inline (one process, for
debugging). Each returns what the workers returned; harness.finetune.launch verifies it. They are
registered by name in harness.finetune.config.LAUNCHERS (and imported only when one runs).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness.errors import FinetuneError
from harness.finetune.config import FinetuneConfig
from harness.finetune.runlog import RunFiles
from harness.io import atomic_write_json

if TYPE_CHECKING:
    from pyspark.ml.torch.distributor import TorchDistributor
    from pyspark.sql import SparkSession


def local_threads(processes: int) -> int:
    """Torch threads per process when `processes` share this machine's cores (oversubscribing
    makes CPU training crawl)."""
    return max(1, (os.cpu_count() or 1) // processes)


@contextlib.contextmanager
def _launcher_output_to(path: Path) -> Iterator[None]:
    """Send what the launcher prints (worker output relayed by TorchDistributor) to a log file.

    `rich_proxied_file` keeps a live progress bar drawing on the real terminal meanwhile.
    """
    path.parent.mkdir(parents=True, exist_ok=True)

    with open(path, "a", encoding="utf-8") as fh:
        writer = _LogWriter(fh, getattr(sys.stdout, "rich_proxied_file", sys.stdout))
        with contextlib.redirect_stdout(writer):
            yield


def _quiet(distributor: TorchDistributor) -> TorchDistributor:
    """TorchDistributor logs start/finish at INFO to stderr; keep only its warnings."""
    distributor.logger.setLevel(logging.WARNING)
    return distributor


class _LogWriter:
    """A stdout stand-in that writes to a log file and points rich at the real terminal."""

    def __init__(self, fh: TextIO, terminal: object) -> None:
        self._fh = fh
        self.rich_proxied_file = terminal

    def write(self, text: str) -> int:
        written: int = self._fh.write(text)
        self._fh.flush()
        return written

    def flush(self) -> None:
        self._fh.flush()

    def isatty(self) -> bool:
        return False


def run_inline(cfg: FinetuneConfig, files: RunFiles) -> object:
    import torch.distributed as dist

    from harness.finetune.train import main

    if cfg.num_processes != 1:
        raise FinetuneError(
            f"--launcher inline runs one process, not {cfg.num_processes}; use --num-processes 1 or another launcher"
        )
    if dist.is_available() and dist.is_initialized():
        raise FinetuneError("--launcher inline cannot run inside an initialised process group; use torchrun")
    import torch

    threads = torch.get_num_threads()
    try:
        return main(cfg.to_dict())
    finally:
        torch.set_num_threads(threads)  # the run sets this process's thread count


def _worker_env(cfg: FinetuneConfig) -> dict[str, str]:
    env = dict(os.environ)
    env["BOOKCLIP_CACHE_DIR"] = str(cfg.cache_dir)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    if cfg.threads:
        env["OMP_NUM_THREADS"] = str(cfg.threads)
    return env


def run_torchrun(cfg: FinetuneConfig, files: RunFiles) -> object:
    config_path = files.logs / "worker-config.json"
    atomic_write_json(config_path, cfg.to_dict())
    for old in files.logs.glob("manifest-rank*.json"):
        old.unlink()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        f"--nproc_per_node={cfg.num_processes}",
        "--max_restarts=0",
        "-m",
        "harness.finetune.worker",
        str(config_path),
    ]
    with open(files.logs / "launcher.log", "a", encoding="utf-8") as log:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=_worker_env(cfg), timeout=cfg.timeout_s + 60, check=False
        )
    if proc.returncode != 0:
        raise FinetuneError(f"torchrun exited with code {proc.returncode}")
    manifests = [
        json.loads(files.logs.joinpath(f"manifest-rank{r}.json").read_text(encoding="utf-8"))
        for r in range(cfg.num_processes)
        if files.logs.joinpath(f"manifest-rank{r}.json").is_file()
    ]
    if len(manifests) != cfg.num_processes or any(m != manifests[0] for m in manifests):
        raise FinetuneError(f"{len(manifests)} of {cfg.num_processes} ranks returned a manifest, or they differ")
    return manifests[0]


def _spark_session(cfg: FinetuneConfig) -> SparkSession:
    from harness.spark import get_or_create_session

    return get_or_create_session(
        master=f"local[{max(cfg.num_processes, os.cpu_count() or 1)}]", hint="or run without Spark: --launcher torchrun"
    )


def run_spark_local(cfg: FinetuneConfig, files: RunFiles) -> object:
    _spark_session(cfg)
    from pyspark.ml.torch.distributor import TorchDistributor

    from harness.finetune.train import main

    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(cfg.threads or 1)  # torchrun's children inherit this
    try:
        with _launcher_output_to(files.logs / "launcher.log"):
            distributor = _quiet(
                TorchDistributor(num_processes=cfg.num_processes, local_mode=True, use_gpu=cfg.use_gpu)
            )
            return distributor.run(main, cfg.to_dict())
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads


def run_spark_cluster(cfg: FinetuneConfig, files: RunFiles) -> object:
    session = _spark_session(cfg)
    from pyspark.ml.torch.distributor import TorchDistributor

    from harness.finetune.train import main
    from harness.spark import task_slots

    conf = session.sparkContext.getConf()
    tasks = cfg.num_processes
    if cfg.use_gpu:
        key = "spark.task.resource.gpu.amount"
        amount = conf.get(key, None)
        try:
            gpus_per_task = float(amount) if amount is not None else 0.0
        except ValueError:
            gpus_per_task = 0.0
        if gpus_per_task < 1:
            raise FinetuneError(
                f"--use-gpu on spark-cluster needs {key} >= 1 (it is {amount or 'unset'}); "
                f"set --conf {key}=1 on the cluster or drop --use-gpu"
            )
        tasks = cfg.num_processes // int(gpus_per_task)
    slots = task_slots(session)
    if slots < tasks:
        raise FinetuneError(
            f"Spark session {session.sparkContext.master} has {slots} task slots, the run needs "
            f"{tasks} at once (barrier stage); lower --num-processes or add executors"
        )
    if (session.sparkContext.master or "").startswith("local") and not cfg.threads and not cfg.use_gpu:
        cfg = cfg.replace(threads=local_threads(cfg.num_processes))  # executors share the driver's cores
    with _launcher_output_to(files.logs / "launcher.log"):
        distributor = _quiet(TorchDistributor(num_processes=cfg.num_processes, local_mode=False, use_gpu=cfg.use_gpu))
        return distributor.run(main, cfg.to_dict())
