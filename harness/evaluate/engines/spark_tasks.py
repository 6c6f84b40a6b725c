"""What Spark executors run: rank blocks of queries, embed covers and captions of rows.

They call evaluation's own functions (harness.evaluate.retrieval.rank_block and
harness.evaluate.embed.encode_covers / encode_captions), so an executor computes what the local
engine computes. A task that raises fails with one marked line naming its partition and the
cause; the driver (harness.evaluate.engines.spark) finds that line and reports only it.
"""

from __future__ import annotations

import json
import os
import resource
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from harness.evaluate.embedding_store import StoredMatrix
    from harness.evaluate.retrieval import BlockCounts, RankPlan
    from harness.models.clip_model import ClipModel

T = TypeVar("T")
# what a ranking task returns: (partition, its blocks' counts, worker's peak MiB, MiB the task added at its peak)
TaskCounts = tuple[int, list["BlockCounts"], float, float | None]
T_co = TypeVar("T_co", covariant=True)


class Shared(Protocol[T_co]):
    """What a task reads of a Spark broadcast (pyspark.broadcast.Broadcast)."""

    @property
    def value(self) -> T_co: ...


MARKER = "[bookclip-task]"
END = "[/bookclip-task]"
EMBED_SCHEMA = "row long, image binary, text binary, info string"

# One model per Python worker (Spark reuses workers): loaded on a task's first batch, kept for the
# worker's life, keyed by where it came from and the fingerprint the driver expects.
_WORKER_MODELS: dict[tuple[str, str, str], ClipModel] = {}


def task_failure(what: str, partition: int, exc: BaseException) -> RuntimeError:
    text = str(exc).strip().splitlines()
    cause = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return RuntimeError(f"{MARKER} {what} failed in partition {partition}: {cause} {END}")


def peak_rss_mib() -> float:
    """Peak resident memory of this Python worker so far (Linux reports KiB), including peaks that
    TaskMemory reset."""
    return max(_WORKER_PEAK["mib"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


_WORKER_PEAK = {"mib": 0.0}


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class TaskMemory:
    """The memory one task adds to its worker at its peak, whatever earlier tasks or the worker's start-up
    used: Linux's peak resident size (VmHWM) is reset to the current one as the task starts (writing 5 to
    /proc/self/clear_refs). None where that cannot be done."""

    def __init__(self) -> None:
        _WORKER_PEAK["mib"] = peak_rss_mib()
        self.start = _status_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
            self.reset = True
        except OSError:
            self.reset = False

    def added_mib(self) -> float | None:
        peak = _status_kib("VmHWM")
        if not self.reset or self.start is None or peak is None:
            return None
        _WORKER_PEAK["mib"] = max(_WORKER_PEAK["mib"], peak / 1024.0)
        return max(0.0, (peak - self.start) / 1024.0)


def read_once(handle: Shared[T]) -> T:
    """A broadcast's value, not kept in this worker afterwards: PySpark keeps a value once read (in the
    handle's `_value`), so a worker would hold every query block it ever ranked, memory that grows with
    N; the next read comes from the executor's local copy instead."""
    value = handle.value
    vars(handle).pop("_value", None)
    return value


def rank_partition(
    plan: Shared[RankPlan],
    piece: Shared[tuple[int, np.ndarray]],
    queries: dict[int, Shared[np.ndarray]],
    fail_partition: int | None,
    index: int,
    items: Iterator[tuple[int, int]],
) -> Iterator[TaskCounts]:
    """mapPartitionsWithIndex body: (partition, [BlockCounts], worker's peak MiB, MiB the task added at its peak)
    for this partition's query blocks against one gallery piece, on the GPU Spark assigned the task, else its CPU.
    `plan` is the product's broadcast RankPlan, `piece` the broadcast (first column, columns), `queries` the
    query blocks' broadcasts by start, each item (start, start); `fail_partition` is a test hook."""

    def count(device: str) -> list[BlockCounts]:
        import torch

        from harness.evaluate.retrieval import rank_block

        c0, cols = piece.value
        gallery = torch.from_numpy(cols).to(device)
        return [
            rank_block(plan.value, torch.from_numpy(read_once(queries[block])).to(device), gallery, start=start, c0=c0)
            for start, block in items
        ]

    yield _ranking_task(index, fail_partition, count)


def rank_stored_partition(
    plan: Shared[RankPlan],
    matrices: Shared[tuple[StoredMatrix, StoredMatrix]],
    fail_partition: int | None,
    index: int,
    items: Iterator[tuple[int, int, int, int]],
) -> Iterator[TaskCounts]:
    """mapPartitionsWithIndex body, as rank_partition, for items (row start, row stop, first column, column
    stop) whose rows and columns the task reads from the embedding store (`matrices`: the product's rows and
    columns as StoredMatrix)."""

    def count(device: str) -> list[BlockCounts]:
        import torch

        from harness.evaluate.retrieval import rank_block

        rows, cols = matrices.value
        return [
            rank_block(
                plan.value,
                torch.from_numpy(rows.read(a, b)).to(device),
                torch.from_numpy(cols.read(c0, c1)).to(device),
                start=a,
                c0=c0,
            )
            for a, b, c0, c1 in items
        ]

    yield _ranking_task(index, fail_partition, count)


def _ranking_task(index: int, fail_partition: int | None, count: Callable[[str], list[BlockCounts]]) -> TaskCounts:
    """What a ranking task returns, `count` run on the task's device; any failure is one line for the driver."""
    try:
        memory = TaskMemory()
        if fail_partition == index:
            raise ValueError("injected failure (fail_partition)")
        blocks = count(task_device())
    except Exception as exc:  # one line for the driver, whatever failed
        raise task_failure("ranking", index, exc) from None
    return index, blocks, peak_rss_mib(), memory.added_mib()


def embed_partition(source: dict[str, Any], batches: Iterator[Any]) -> Iterator[Any]:
    """mapInArrow body: per Arrow batch of catalogue rows, their cover and caption embeddings (float32 bytes)."""
    import pyarrow as pa
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else -1
    try:
        if source.get("fail_partition") == partition:
            raise ValueError("injected failure (fail_partition)")
        model = worker_model(source)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows, images, texts, truncated = _embed_rows(model, batch.to_pandas(), int(source["batch_size"]))
            facts = {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "cache": _cache_folder(),
                "device": str(model.device),
                "truncated": truncated,
                "rss_mib": peak_rss_mib(),
                "partition": partition,
            }
            if source.get("store"):  # the embeddings stay in the store: only where they are comes back
                yield _stored_batch(source["store"], rows, images, texts, facts)
                continue
            info = json.dumps(facts)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(rows, pa.int64()),
                    pa.array([r.tobytes() for r in images], pa.binary()),
                    pa.array([r.tobytes() for r in texts], pa.binary()),
                    pa.array([info] + [""] * (len(rows) - 1), pa.string()),
                ],
                names=["row", "image", "text", "info"],
            )
    except Exception as exc:
        raise task_failure("embedding", partition, exc) from None


def _stored_batch(
    folder: str, rows: np.ndarray, images: np.ndarray, texts: np.ndarray, facts: dict[str, Any]
) -> pa.RecordBatch:
    """Write each run of consecutive rows as a store part; one record per part, its info naming it."""
    import numpy as np
    import pyarrow as pa

    from harness.evaluate.embedding_store import write_part

    order = np.argsort(rows, kind="stable")
    rows, images, texts = rows[order], images[order], texts[order]
    cuts = [0, *(np.flatnonzero(np.diff(rows) != 1) + 1).tolist(), len(rows)]
    infos = []
    for k, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        part = write_part(folder, int(rows[a]), images[a:b], texts[a:b])
        written = [part.start, part.stop, part.nonfinite, part.max_abs]
        infos.append(json.dumps({**facts, "truncated": facts["truncated"] if k == 0 else 0, "part": written}))
    starts = [int(rows[a]) for a in cuts[:-1]]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(starts, pa.int64()),
            pa.array([b""] * len(starts), pa.binary()),
            pa.array([b""] * len(starts), pa.binary()),
            pa.array(infos, pa.string()),
        ],
        names=["row", "image", "text", "info"],
    )


def worker_model(source: dict[str, Any]) -> ClipModel:
    """The model this worker already loaded for `source`, else load it (by spec, a shared path or a
    file shipped with SparkContext.addFile) and check it is the driver's model (fingerprint, identity)."""
    where = source.get("spec") or source["file"]
    key = (where, source["fingerprint"], task_device())
    if key not in _WORKER_MODELS:
        from harness.errors import EvaluationError
        from harness.models import load

        if source.get("shipped"):
            from pyspark import SparkFiles

            where = SparkFiles.get(source["file"])
        model = load(where, device=task_device())
        identity = str(getattr(model, "identity", None) or "")
        if model.fingerprint != source["fingerprint"] or (
            source.get("identity") and identity and identity != source["identity"]
        ):
            raise EvaluationError(
                f"the executor loaded {where} with fingerprint {model.fingerprint[:12]}, "
                f"not the driver's {source['fingerprint'][:12]}; put the same checkpoint on "
                "every executor (a shared path) or pass a checkpoint file"
            )
        _WORKER_MODELS.clear()  # one model per worker at a time keeps memory flat across models
        _WORKER_MODELS[key] = model
    return _WORKER_MODELS[key]


def task_device() -> str:
    """The device this task embeds and ranks on: the first GPU Spark assigned to it (spark.task.resource.gpu.amount,
    with a discovery script on the executors), else the CPU."""
    from pyspark import TaskContext

    context = TaskContext.get()
    gpus = context.resources().get("gpu") if context is not None else None
    return device_for(list(gpus.addresses) if gpus is not None else [])


def device_for(gpu_addresses: list[str]) -> str:
    """`cuda:<first address>` when Spark assigned GPUs and this worker's torch sees CUDA, else `cpu`."""
    if not gpu_addresses:
        return "cpu"
    import torch

    return f"cuda:{int(gpu_addresses[0])}" if torch.cuda.is_available() else "cpu"


def _embed_rows(
    model: ClipModel, frame: pd.DataFrame, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    from harness.data.catalogue import COLUMNS, Catalogue
    from harness.evaluate.embed import encode_captions, encode_covers

    rows = frame["row"].to_numpy()
    catalogue = Catalogue(frame[list(COLUMNS)].reset_index(drop=True), tuple(frame["digest"].astype(str)))
    images = encode_covers(model, catalogue, batch_size)
    texts, truncated = encode_captions(model, frame["caption"].astype(str).tolist(), batch_size)
    return rows, images, texts, truncated


def _cache_folder() -> str:
    from harness.io import cache_dir

    return str(cache_dir().resolve())
