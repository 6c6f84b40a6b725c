"""Run `train.main` under a launcher and check what comes back.

Launchers: spark-local (TorchDistributor, local_mode=True), spark-cluster (TorchDistributor
on the session's executors), torchrun (plain `torch.distributed.run`, no Java needed) and
inline (one process, for debugging). TorchDistributor can swallow worker exit codes and, in
local mode, return any rank's value, so the driver never trusts the return value alone: the
manifest is verified against the checkpoint file on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BookclipError, FinetuneError
from harness.finetune.config import LAUNCHERS, FinetuneConfig
from harness.finetune.launchers import local_threads
from harness.finetune.runlog import RunFiles
from harness.io import atomic_write_json, cache_dir

# called with {"step": 0, "total_steps": N, "loss": None} first, then with each training-log record
ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Manifest:
    """What a fine-tuning run produced, as verified by the driver."""

    checkpoint: str
    fingerprint: str
    steps: int
    planned_steps: int
    final_loss: float
    samples_per_s: float
    world_size: int
    train_rows: int
    data_fingerprint: str
    parent_fingerprint: str
    precision: str
    recipe_hash: str
    resumed_from: int
    launcher: str = ""
    wall_s: float = 0.0

    @classmethod
    def from_dict(cls, values: dict[str, Any], **extra: Any) -> Manifest:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**values, **extra}.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve(cfg: FinetuneConfig) -> FinetuneConfig:
    """Absolute paths (workers may run elsewhere), the cache location, and a thread count per process."""
    if not cfg.out:
        raise FinetuneError("no output directory; pass --out DIR")
    if os.path.lexists(cfg.out) and not os.path.isdir(cfg.out):
        raise FinetuneError(f"--out {cfg.out}: exists and is not a directory; pass a new or existing directory")
    if not cfg.data:  # the embedded default: the generated fixture catalogue
        from harness.data import fixture_catalogue

        cfg = cfg.replace(data=(str(fixture_catalogue()),))
    data = tuple(d if "://" in d else os.path.abspath(os.path.expanduser(d)) for d in cfg.data)
    image_root = os.path.abspath(cfg.image_root) if cfg.image_root else None
    threads = cfg.threads
    if not threads and not cfg.use_gpu and cfg.launcher != "spark-cluster":
        threads = local_threads(cfg.num_processes)
    return cfg.replace(
        data=data,
        image_root=image_root,
        out=os.path.abspath(cfg.out),
        cache_dir=cfg.cache_dir or str(cache_dir()),
        threads=threads,
    )


STAGING_PREFIX = ".staging-"
FAILED_RUN = "failed-run"


def launch(cfg: FinetuneConfig, *, on_progress: ProgressCallback | None = None) -> Manifest:
    """Fine-tune as configured; return the verified manifest or raise FinetuneError.

    The run trains in a staging folder inside `out` and its files replace `out`'s only once the
    manifest checks out, so a failed run never costs the model already there. A folder that holds
    a finished model is refused unless `resume` or `overwrite` is set. When a run fails, its
    resumable states and logs move into `out` if no finished model is there, else into
    `out/failed-run/` (the finished model and its files stay untouched).
    """
    from harness.data.file_lock import exclusive_lock_or_none
    from harness.finetune.data import planned_steps, training_rows

    cfg = resolve(cfg)
    final = RunFiles(cfg.out)
    if final.model.exists() and not (cfg.resume or cfg.overwrite):
        raise FinetuneError(
            f"{final.root} already holds a finished model ({final.model.name}); pass --overwrite "
            "to replace it once the new run succeeds, --resume to continue it, or another --out"
        )
    rows = len(training_rows(cfg))  # fails fast, in the driver, on bad data paths or categories
    if rows < cfg.batch_size:
        raise FinetuneError(
            f"{rows} training rows in {', '.join(cfg.categories)} make no batch of "
            f"{cfg.batch_size}; lower --batch-size or add data"
        )
    expected_steps = planned_steps(cfg, rows)
    final.root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock_or_none(final.root / ".run.lock") as locked:
        if not locked:
            raise FinetuneError(f"another fine-tune is running in {final.root}; wait for it or use another --out")
        for stale in final.root.glob(STAGING_PREFIX + "*"):  # left by a killed driver (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        staging = RunFiles(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=final.root))
        try:
            return _launch_staged(cfg, final, staging, expected_steps, on_progress)
        finally:
            shutil.rmtree(staging.root, ignore_errors=True)


def _launch_staged(
    cfg: FinetuneConfig, final: RunFiles, staging: RunFiles, expected_steps: int, on_progress: ProgressCallback | None
) -> Manifest:
    if cfg.resume:  # continue from out's states; the originals stay where they are until success
        _copy_into(final.checkpoints, staging.checkpoints, "step-*.pt")
        if final.train_log.is_file():
            shutil.copy2(final.train_log, staging.train_log)
    atomic_write_json(staging.root / "config.json", cfg.to_dict())
    run_cfg = cfg.replace(out=str(staging.root))
    run = LAUNCHERS.get(cfg.launcher)
    start = time.perf_counter()
    if on_progress is not None:  # the plan, from this thread, before any output is redirected
        on_progress({"step": 0, "total_steps": expected_steps, "loss": None})
    try:
        with _follow_train_log(staging, on_progress):
            result = run(run_cfg, staging)
    except BookclipError as exc:
        if not staging.worker_errors():  # raised by the driver itself (Java, Spark config)
            _keep_failed_run(final, staging)
            raise
        raise _worker_failure(_keep_failed_run(final, staging), exc) from None
    except Exception as exc:  # noqa: BLE001 - any launcher failure becomes one line
        raise _worker_failure(_keep_failed_run(final, staging), exc) from None
    if staging.worker_errors():  # a launcher may return another rank's value although one rank failed
        raise _worker_failure(_keep_failed_run(final, staging), FinetuneError("a worker failed"))
    try:
        manifest = verify_manifest(result, staging, expected_steps)
    except FinetuneError:
        _keep_failed_run(final, staging)
        raise
    manifest = _swap_in(final, staging, manifest)
    return Manifest.from_dict(manifest, launcher=cfg.launcher, wall_s=round(time.perf_counter() - start, 3))


def _copy_into(source: Path, target: Path, pattern: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob(pattern)) if source.is_dir() else ():
        try:
            os.link(path, target / path.name)  # training states are written anew, never in place
        except OSError:
            shutil.copy2(path, target / path.name)


def _replace_dir(source: Path, target: Path) -> None:
    if not source.exists():
        return
    if target.exists():
        shutil.rmtree(target)
    os.replace(source, target)


def _swap_in(final: RunFiles, staging: RunFiles, manifest: dict[str, Any]) -> dict[str, Any]:
    """The verified run's files replace out's: states and logs first, then the model (one rename), then
    the manifest naming the model's final path."""
    _replace_dir(staging.checkpoints, final.checkpoints)
    _replace_dir(staging.logs, final.logs)
    for name in ("train_log.jsonl", "config.json"):
        if (staging.root / name).exists():
            os.replace(staging.root / name, final.root / name)
    final.manifest.unlink(missing_ok=True)  # never a manifest beside a model it does not describe
    os.replace(staging.model, final.model)
    manifest = {**manifest, "checkpoint": str(final.model)}
    final.write_manifest(manifest)
    shutil.rmtree(final.root / FAILED_RUN, ignore_errors=True)
    return manifest


def _keep_failed_run(final: RunFiles, staging: RunFiles) -> RunFiles:
    """Where a failed run's resumable states and logs go (see launch); returns those files."""
    staging.model.unlink(missing_ok=True)  # a failed run leaves no model that looks finished
    staging.manifest.unlink(missing_ok=True)
    if final.model.exists():
        target = RunFiles(final.root / FAILED_RUN)
        _replace_dir(staging.root, target.root)
        staging.root.mkdir()  # launch's cleanup removes it again
        return target
    for old in final.logs.glob("error-rank*.txt"):
        old.unlink()
    _replace_dir(staging.checkpoints, final.checkpoints)
    _replace_dir(staging.logs, final.logs)
    for name in ("train_log.jsonl", "config.json"):
        if (staging.root / name).exists():
            os.replace(staging.root / name, final.root / name)
    return final


# -- verification --------------------------------------------------------------------------
def verify_manifest(result: Any, files: RunFiles, expected_steps: int) -> dict[str, Any]:
    """Check a worker's manifest against the files: checkpoint present, fingerprint and steps right."""
    from harness.models import fingerprint_state_dict, load_checkpoint

    def fail(problem: str) -> FinetuneError:
        errors = files.worker_errors()
        if errors:
            rank, message = next(iter(errors.items()))
            return FinetuneError(f"fine-tune worker rank {rank} failed: {message} (logs in {files.logs})")
        tail = " | ".join(files.log_tail(3)) or "no worker log"
        return FinetuneError(f"fine-tune in {files.root} did not check out: {problem}; last worker log lines: {tail}")

    if not isinstance(result, dict) or "checkpoint" not in result:
        raise fail(f"the workers returned {type(result).__name__}, not a manifest")
    checkpoint = Path(result["checkpoint"])
    if checkpoint.resolve() != files.model.resolve():
        raise fail(f"the manifest names {checkpoint}, not {files.model}")
    if not checkpoint.is_file():
        raise fail(f"checkpoint {checkpoint} does not exist")
    on_disk = json.loads(files.manifest.read_text(encoding="utf-8")) if files.manifest.is_file() else None
    if on_disk != result:
        raise fail(f"the returned manifest differs from rank 0's {files.manifest}")
    loaded = load_checkpoint(checkpoint)
    actual = fingerprint_state_dict(loaded.state_dict)
    if actual != result["fingerprint"]:
        raise fail(f"checkpoint fingerprint {actual[:12]} is not the manifest's {str(result['fingerprint'])[:12]}")
    if result["steps"] != expected_steps or loaded.metadata.get("steps") != expected_steps:
        raise fail(
            f"{result['steps']} steps were trained (checkpoint says {loaded.metadata.get('steps')}), "
            f"{expected_steps} were asked"
        )
    return result


def _worker_failure(files: RunFiles, exc: BaseException) -> FinetuneError:
    """One line: the first failing rank's own error if it left one, else the launcher's, with log tail."""
    errors = files.worker_errors()
    if errors:
        rank, message = next(iter(errors.items()))
        return FinetuneError(f"fine-tune worker rank {rank} failed: {message} (logs in {files.logs})")
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    tail = " | ".join(files.log_tail(3)) or "no worker log"
    return FinetuneError(f"fine-tune launcher failed: {type(exc).__name__}: {first}; last worker log lines: {tail}")


# -- progress ------------------------------------------------------------------------------
@contextlib.contextmanager
def _follow_train_log(files: RunFiles, on_progress: ProgressCallback | None) -> Iterator[None]:
    """Feed new training-log records to `on_progress` from a thread while the launcher runs."""
    if on_progress is None:
        yield
        return
    stop = threading.Event()

    def follow() -> None:
        seen = 0
        while True:
            records = files.read_train_log()
            for record in records[seen:]:
                on_progress(record)
            seen = max(seen, len(records))
            if stop.wait(0.5):
                if len(files.read_train_log()) <= seen:
                    return

    thread = threading.Thread(target=follow, name="bookclip-train-log", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
