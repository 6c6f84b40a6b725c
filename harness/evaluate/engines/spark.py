"""The Spark engine: embeddings and exact ranks on executors, handed to the same metrics code.

Embeddings: mapInArrow over the catalogue rows, the model loaded once per Python worker by spec or
checkpoint path and checked against the driver's fingerprint. Each task writes what it embedded to an
embedding store (harness.evaluate.embedding_store: a folder the driver and every executor see,
store_root) and returns only where; Embeddings then carries lazy StoredMatrix views. Without a store
(spark-cluster with no shared folder named, or BOOKCLIP_SPARK_STORE=off) the embeddings are collected.

Ranks: harness.evaluate.retrieval.rank_jobs plans each product on the driver (every positive pair
scored exactly, so each query's threshold is known; no N x N work; a stored matrix is streamed a
chunk at a time). The gallery is cut into column pieces within the budget ($BOOKCLIP_SPARK_GALLERY_MB,
default 256 MiB) and the queries into blocks. Stored: one Spark job, one task per (block, piece),
each reading its rows from the store. Collected: one Spark job per piece, the plan and that piece
broadcast to its tasks ("broadcast" when there is one piece, else "streamed"). Each task counts its
block against its piece (retrieval.rank_block, on the GPU Spark assigned it, else its CPU) and the
driver adds the counts (retrieval.finish_ranks). The counts are certified exact, so the ranks equal
the local engine's whatever the executors' CPU, BLAS, thread count or device, and whatever the
pieces and blocks. Results come back by collect(), one per partition, so a retried task is never
counted twice. Zero-shot and probes run on the driver (over the stored covers a chunk at a time).
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from harness import settings
from harness.errors import ConfigError, EvaluationError
from harness.evaluate.embedding_store import EmbeddingStore, Part, StoredMatrix
from harness.evaluate.engines.spark_tasks import (
    EMBED_SCHEMA,
    END,
    MARKER,
    TaskCounts,
    embed_partition,
    rank_partition,
    rank_stored_partition,
)
from harness.evaluate.kernels import DEFAULT_KERNEL
from harness.evaluate.pieces import block_count, piece_bounds
from harness.evaluate.retrieval import (
    DEFAULT_CHUNK_BYTES,
    BlockCounts,
    Certificate,
    DirectionRanks,
    Matrix,
    RankJob,
    block_starts,
    finish_ranks,
    job_ranks,
    rank_jobs,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark import SparkContext
    from pyspark.broadcast import Broadcast
    from pyspark.sql import DataFrame, SparkSession

    from harness.data.catalogue import Catalogue
    from harness.evaluate.embed import Embeddings
    from harness.evaluate.retrieval import RankPlan
    from harness.models.clip_model import ClipModel

T = TypeVar("T")

RECORDS_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"
NO_SPARK_HINT = "or run with --engine local"
GALLERY_ENV = "BOOKCLIP_SPARK_GALLERY_MB"  # gallery budget in MiB: larger galleries are streamed in pieces
LOCAL_MASTER_ENV = "BOOKCLIP_SPARK_LOCAL_MASTER"  # spark-local's master: local, local[N] or local[*]
STORE_ENV = "BOOKCLIP_SPARK_STORE"  # where executors keep embeddings: a folder all of them see, or off
FAIL_ENV = "BOOKCLIP_SPARK_FAIL_PARTITION"  # tests only: N, ranking:N or embedding:N makes that partition fail


class SparkEngine:
    """`spark-local`: a local session (or the active one); `spark-cluster`: the active session or $SPARK_MASTER."""

    def __init__(
        self,
        name: str = "spark-local",
        *,
        session: SparkSession | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        tile_rows: int | None = None,
        kernel: str = DEFAULT_KERNEL,
        blocks: int | None = None,
        records_per_batch: int | None = None,
        gallery_bytes: int | None = None,
        fail_partition: int | None = None,
        fail_stage: str | None = None,
        store: str | None = None,
    ) -> None:
        self.name = name
        self._session = session
        self.chunk_bytes = chunk_bytes
        self.tile_rows = tile_rows  # tile shape on the executors: any gives the same ranks
        self.kernel = kernel
        self.certificate = Certificate()
        self.blocks = blocks  # query blocks per product (default: the session's task slots)
        self.records_per_batch = records_per_batch  # Arrow batch rows (rounded up to a batch-size multiple)
        self.gallery_bytes = gallery_budget(gallery_bytes)  # larger galleries are streamed in column pieces
        self.store = store  # where executors keep embeddings (store_root); None: $BOOKCLIP_SPARK_STORE or default
        if fail_partition is None:
            fail_stage, fail_partition = failure_hook(os.environ.get(FAIL_ENV))
        self.fail_partition = fail_partition  # tests: make this partition's task raise ...
        self.fail_stage = fail_stage  # ... in this stage ("ranking", "embedding"; None: both)
        self.ranking: dict[str, Any] = {
            "products": 0,
            "tasks": 0,
            "peak_worker_rss_mib": 0.0,
            "peak_task_added_mib": 0.0,
            "broadcast": 0,
            "streamed": 0,
            "stored": 0,
            "pieces": 0,
        }
        self.embedding: dict[str, Any] = {}

    # -- session -----------------------------------------------------------------------------------
    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = open_session(self.name)
        return self._session

    # -- ranks -------------------------------------------------------------------------------------
    def retrieval_ranks(
        self,
        images: Matrix,
        texts: Matrix,
        groups: Sequence | np.ndarray,
        *,
        pool_images: Matrix | None = None,
        pool_texts: Matrix | None = None,
        pool_groups: Sequence | np.ndarray | None = None,
        where: str = "view",
    ) -> dict[str, DirectionRanks]:
        jobs = rank_jobs(
            images,
            texts,
            groups,
            pool_images=pool_images,
            pool_texts=pool_texts,
            pool_groups=pool_groups,
            chunk_bytes=self.chunk_bytes,
            tile_rows=self.tile_rows,
            kernel=self.kernel,
            where=where,
            keep_stored=True,
        )
        return job_ranks(jobs, [self._rank(job, where) for job in jobs])

    def _rank(self, job: RankJob, where: str) -> tuple[np.ndarray, np.ndarray | None]:
        """One Spark job per gallery piece: the plan and the piece broadcast to its tasks, one query block each."""
        sc = self.session.sparkContext
        plan, dim = job.plan, int(job.rows.shape[1])
        bounds = piece_bounds(plan.n_cols, dim, self.gallery_bytes)
        starts = block_starts(
            plan, block_count(plan.n_rows, dim, self.gallery_bytes, self.blocks or sc.defaultParallelism)
        )
        if isinstance(job.rows, StoredMatrix) and isinstance(job.cols, StoredMatrix):
            return self._rank_stored(job.plan, (job.rows, job.cols), starts, bounds, where)
        assert isinstance(job.rows, torch.Tensor) and isinstance(job.cols, torch.Tensor)
        rows, cols = job.rows.numpy(), job.cols.numpy()
        queries = QueryBlocks(sc)
        items = [(a, queries.ship(a, rows[a:b])) for a, b in zip(starts, [*starts[1:], plan.n_rows], strict=True)]
        shared = sc.broadcast(plan)
        done: list[TaskCounts] = []
        try:
            for c0, c1 in zip(bounds, bounds[1:], strict=False):
                done.extend(self._run_ranking(shared, (c0, np.ascontiguousarray(cols[c0:c1])), queries, items, where))
        finally:
            queries.destroy()
            shared.destroy()
        blocks: list[BlockCounts] = [block for _, part, *_ in done for block in part]
        totals = finish_ranks(plan, blocks)
        self.certificate.add(plan, totals)
        pieces = len(bounds) - 1
        self._count(len(done), done, pieces=pieces, **({"broadcast": 1} if pieces == 1 else {"streamed": 1}))
        return totals.row_ranks, totals.col_ranks

    def _rank_stored(
        self,
        plan: RankPlan,
        matrices: tuple[StoredMatrix, StoredMatrix],
        starts: list[int],
        bounds: list[int],
        where: str,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One Spark job, one task per (query block, gallery piece): each reads its rows and columns from
        the embedding store, so neither passes through the driver."""
        sc = self.session.sparkContext
        stops = [*starts[1:], plan.n_rows]
        items = [
            (a, b, c0, c1)
            for a, b in zip(starts, stops, strict=True)
            for c0, c1 in zip(bounds, bounds[1:], strict=False)
        ]
        shared, stored = sc.broadcast(plan), sc.broadcast(matrices)
        try:
            body = partial(rank_stored_partition, shared, stored, self._failing("ranking"))
            done: list[TaskCounts] = run_tasks(
                lambda: sc.parallelize(items, len(items)).mapPartitionsWithIndex(body).collect(), f"ranking {where}", sc
            )
        finally:
            stored.destroy()
            shared.destroy()
        totals = finish_ranks(plan, [block for _, part, *_ in done for block in part])
        self.certificate.add(plan, totals)
        self._count(len(done), done, pieces=len(bounds) - 1, stored=1)
        return totals.row_ranks, totals.col_ranks

    def _run_ranking(
        self,
        plan: Broadcast[RankPlan],
        piece: tuple[int, np.ndarray],
        queries: QueryBlocks,
        items: list[tuple[int, int]],
        where: str,
    ) -> list[TaskCounts]:
        """One Spark job: `piece` (first column, its columns) broadcast to its tasks, one task per query block."""
        sc = self.session.sparkContext
        handle = sc.broadcast(piece)
        try:
            body = partial(rank_partition, plan, handle, queries.handles(), self._failing("ranking"))
            done: list[TaskCounts] = run_tasks(
                lambda: sc.parallelize(items, len(items)).mapPartitionsWithIndex(body).collect(), f"ranking {where}", sc
            )
            return done
        finally:
            handle.destroy()

    def _count(self, tasks: int, out: list[TaskCounts], *, pieces: int = 0, **added: int) -> None:
        """Add one product's tasks; `out` holds the tasks' (partition, result, worker peak, task's added peak)."""
        self.ranking["products"] += 1
        self.ranking["tasks"] += tasks
        self.ranking["peak_worker_rss_mib"] = max([self.ranking["peak_worker_rss_mib"], *(o[2] for o in out)])
        self.ranking["peak_task_added_mib"] = max(
            [self.ranking["peak_task_added_mib"], *(o[3] for o in out if o[3] is not None)]
        )
        self.ranking["pieces"] = max(self.ranking["pieces"], pieces)
        for key, value in added.items():
            self.ranking[key] += value

    def _stored(self) -> bool:
        return str(self.embedding.get("kept", "")).startswith("in the embedding store")

    def _failing(self, stage: str) -> int | None:
        return self.fail_partition if self.fail_stage in (None, stage) else None

    # -- embeddings --------------------------------------------------------------------------------
    def embed(self, model: ClipModel, catalogue: Catalogue, *, template: str, batch_size: int) -> Embeddings:
        from harness.evaluate.embed import Embeddings, check_finite
        from harness.evaluate.templates import render_captions, resolve_template

        template_text = resolve_template(template)
        if len(catalogue) == 0:
            raise EvaluationError("cannot embed an empty catalogue; check the data path and category filter")
        if batch_size < 1:
            raise EvaluationError(f"batch_size={batch_size} must be at least 1")
        root = store_root(self.name, self.store)  # a bad folder is one line before Spark starts
        spark = self.session
        folder = EmbeddingStore.new_folder(root) if root is not None else None
        frame = catalogue_rows(catalogue, render_captions(template_text, catalogue.frame))
        per_batch = batch_size * max(1, -(-(self.records_per_batch or 1024) // batch_size))
        source = {
            **model_source(model, spark.sparkContext, self.name),
            "batch_size": batch_size,
            "fail_partition": self._failing("embedding"),
            "store": folder,
        }
        previous = spark.conf.get(RECORDS_CONF, None)
        spark.conf.set(RECORDS_CONF, str(per_batch))
        try:
            df = spark.createDataFrame(frame)  # contiguous row slices, one per task slot
            table = run_tasks(
                lambda: _to_arrow(df.mapInArrow(partial(embed_partition, source), EMBED_SCHEMA)),
                "embedding",
                spark.sparkContext,
            )
        finally:
            spark.conf.unset(RECORDS_CONF) if previous is None else spark.conf.set(RECORDS_CONF, previous)
        images: np.ndarray | StoredMatrix
        texts: np.ndarray | StoredMatrix
        if folder is None:
            images, texts, infos = _assemble(table, len(frame), model.embed_dim)
        else:
            images, texts, infos = _stored(table, len(frame), model.embed_dim, folder)
        self.embedding = _embedding_record(infos, per_batch, source)
        self.embedding["kept"] = (
            "collected to the driver"
            if folder is None
            else f"in the embedding store {folder} (the ranking tasks read it; the driver streams it)"
        )
        result = Embeddings(
            images=images,
            texts=texts,
            book_ids=catalogue.frame["book_id"].astype(str).to_numpy(),
            group_ids=catalogue.frame["group_id"].astype(str).to_numpy(),
            template=template_text,
            truncated_texts=sum(i["truncated"] for i in infos),
        )
        check_finite(result, model)
        return result

    def describe(self) -> dict[str, Any]:
        sc = self.session.sparkContext
        return {
            "name": self.name,
            "master": sc.master,
            "task_slots": sc.defaultParallelism,
            "embeddings": dict(self.embedding) or "none computed here (given to the engine)",
            "ranks": {
                "where": ranks_where(self.ranking),
                "gallery": gallery_mode(self.ranking),
                "gallery_budget_mib": round(self.gallery_bytes / 2**20, 3),
                **self.ranking,
                "exact": self.certificate.to_dict(),
            },
            "zero_shot": "driver, on "
            + ("the stored covers, a chunk at a time" if self._stored() else "the collected embeddings"),
            "probes": "driver, on the embeddings (read from the store where stored)",
        }


# --------------------------------------------------------------------------- helpers


class QueryBlocks:
    """Query blocks as broadcasts, one per block start, handed to the tasks' function (`handles()`); a task's
    items carry the block's start in place of its rows. Rows inside parallelize()'s items pass through the
    driver's JVM heap in every task message (100,000 x 512 queries overflowed its default 1 GiB);
    broadcasts go to Spark's block manager, which spills to disk, and a Python worker loads a block only
    when one of its tasks reads it."""

    def __init__(self, sc: SparkContext) -> None:
        self._sc = sc
        self._shipped: dict[int, Broadcast[np.ndarray]] = {}

    def ship(self, start: int, rows: np.ndarray) -> int:
        if start not in self._shipped:
            self._shipped[start] = self._sc.broadcast(np.ascontiguousarray(rows))
        return start

    def handles(self) -> dict[int, Broadcast[np.ndarray]]:
        return dict(self._shipped)

    def destroy(self) -> None:
        for shipped in self._shipped.values():
            shipped.destroy()
        self._shipped.clear()


def gallery_budget(value: int | None) -> int:
    """Bytes of gallery a task may hold: `value`, else $BOOKCLIP_SPARK_GALLERY_MB MiB, else the default."""
    if value is not None:
        return settings.integer(value, "gallery_bytes", minimum=1)
    text = os.environ.get(GALLERY_ENV, "").strip()
    return settings.mebibytes(text, GALLERY_ENV) if text else settings.DEFAULT_SPARK_GALLERY_MIB * 2**20


def local_master(text: str | None) -> str:
    """spark-local's master from $BOOKCLIP_SPARK_LOCAL_MASTER: `local`, `local[*]` (the default) or `local[N]` with
    N between 1 and this machine's cores; anything else is one line naming the variable, before Spark starts."""
    value = (text or "").strip() or "local[*]"
    found = re.fullmatch(r"local(?:\[(\*|\d+)\])?", value)
    cores = os.cpu_count() or 1
    if found is None or (found.group(1) not in (None, "*") and not 1 <= int(found.group(1)) <= cores):
        raise ConfigError(
            f"{LOCAL_MASTER_ENV}={text!r}: use local, local[*] or local[N] with N from 1 to {cores} "
            "(this machine's cores)"
        )
    return value


def failure_hook(text: str | None) -> tuple[str | None, int | None]:
    """$BOOKCLIP_SPARK_FAIL_PARTITION (tests only): N fails partition N of every Spark stage of the run,
    ranking:N or embedding:N of those stages only."""
    if not text or not text.strip():
        return None, None
    stage, _, index = text.strip().rpartition(":")
    if stage not in ("", "ranking", "embedding") or not index.isdigit():
        raise ConfigError(
            f"{FAIL_ENV} must be N, ranking:N or embedding:N (a partition to fail, for tests); got {text!r}"
        )
    return stage or None, int(index)


def gallery_mode(ranking: dict[str, Any]) -> str:
    """broadcast, streamed, stored, or several (products of a run differ), from the ranking counts."""
    modes = [mode for mode in ("broadcast", "streamed", "stored") if ranking[mode]]
    return " and ".join(modes) if modes else "none ranked"


def ranks_where(ranking: dict[str, Any]) -> str:
    parts = []
    if ranking["broadcast"]:
        parts.append(f"{ranking['broadcast']} product(s): query blocks per task, the gallery broadcast")
    if ranking["streamed"]:
        parts.append(
            f"{ranking['streamed']} product(s): a query block against one gallery piece per task, "
            f"the gallery streamed in up to {ranking['pieces']} column pieces within the budget"
        )
    if ranking["stored"]:
        parts.append(
            f"{ranking['stored']} product(s): each task reads its query block and one of up to {ranking['pieces']} "
            "gallery pieces from the embedding store (nothing through the driver)"
        )
    return "executors; " + "; ".join(parts) if parts else "executors (nothing ranked yet)"


def open_session(name: str) -> SparkSession:
    """spark-local: the active session or a new local one; spark-cluster: the active one, the one spark-submit
    configured (its master and conf), or $SPARK_MASTER."""
    from harness.spark.session import active_session, get_or_create_session

    if name == "spark-local":
        return get_or_create_session(master=local_master(os.environ.get(LOCAL_MASTER_ENV)), hint=NO_SPARK_HINT)
    session = active_session()
    if session is not None:
        return session
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # spark-submit started this driver: no session is active yet
        from pyspark.sql import SparkSession

        return SparkSession.builder.getOrCreate()
    master = os.environ.get("SPARK_MASTER")
    if not master:
        raise ConfigError(
            "--engine spark-cluster needs a running Spark session (run under spark-submit) or "
            "SPARK_MASTER=spark://host:7077; on one machine use --engine spark-local"
        )
    return get_or_create_session(master=master, hint=NO_SPARK_HINT)


def run_tasks(action: Callable[[], T], what: str, sc: SparkContext | None = None) -> T:
    """Run a Spark action; a failed task becomes one EvaluationError line naming its partition and cause
    (the JVM's own stack traces of the failed task are kept off the console while it runs)."""
    if sc is not None:
        sc.setLogLevel("OFF")
    try:
        return action()
    except Exception as exc:  # Py4JJavaError, PythonException, ...: find the task's own line
        text = str(exc)
        found = re.search(re.escape(MARKER) + r"\s*(.*?)\s*" + re.escape(END), text, re.S)
        if found:
            raise EvaluationError(f"Spark {' '.join(found.group(1).split())}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        raise EvaluationError(f"Spark {what} failed: {type(exc).__name__}: {(lines or [''])[0][:300]}") from None
    finally:
        if sc is not None:
            sc.setLogLevel("ERROR")


def catalogue_rows(catalogue: Catalogue, captions: Sequence[str]) -> pd.DataFrame:
    """The rows executors embed: position, the catalogue columns, each cover's digest and its caption."""
    from harness.data.catalogue import COLUMNS
    from harness.data.images import probe_image

    frame = catalogue.frame[list(COLUMNS)].astype(str).copy()
    digests = catalogue.image_digests or tuple(probe_image(p).digest for p in frame["image_path"])
    frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
    frame["digest"] = list(digests)
    frame["caption"] = list(captions)
    return frame


def model_source(model: ClipModel, sc: SparkContext, engine: str) -> dict[str, Any]:
    """How an executor gets the model: a checkpoint path (shipped with addFile on a cluster), else its spec."""
    spec = str(getattr(model, "spec", ""))
    expected = {"fingerprint": str(model.fingerprint), "identity": str(getattr(model, "identity", None) or "")}
    path = Path(spec)
    if spec and path.is_file():
        if engine == "spark-cluster":
            sc.addFile(str(path.resolve()))
            return {**expected, "file": path.name, "shipped": True, "how": f"shipped with addFile: {path.name}"}
        return {**expected, "file": str(path.resolve()), "how": f"checkpoint path {path.resolve()}"}
    return {**expected, "spec": spec, "how": f"spec {spec}"}


def _to_arrow(df: DataFrame) -> pa.Table:
    if hasattr(df, "toArrow"):
        return df.toArrow()
    import pyarrow as pa

    return pa.Table.from_pandas(df.toPandas())


def _assemble(table: pa.Table, n: int, dim: int) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    rows = table.column("row").to_numpy()
    if len(rows) != n or len(np.unique(rows)) != n:
        raise EvaluationError(f"Spark embedding returned {len(np.unique(rows))} of {n} rows; rerun the command")
    order = np.argsort(rows)
    images = np.frombuffer(b"".join(table.column("image").to_pylist()), dtype=np.float32).reshape(n, dim)[order]
    texts = np.frombuffer(b"".join(table.column("text").to_pylist()), dtype=np.float32).reshape(n, dim)[order]
    infos = [json.loads(x) for x in table.column("info").to_pylist() if x]
    return np.ascontiguousarray(images), np.ascontiguousarray(texts), infos


def store_root(engine: str, given: str | None) -> str | None:
    """Where executors keep what they embed ($BOOKCLIP_SPARK_STORE, or `given`): a folder the driver and every
    executor see at the same path; `off` collects the embeddings to the driver instead. Default: the cache
    folder on spark-local, collected on spark-cluster (no folder is known to be shared there)."""
    text = (given if given is not None else os.environ.get(STORE_ENV, "")).strip()
    if text.lower() == "off" or (not text and engine == "spark-cluster"):
        return None
    from harness.io import cache_dir

    folder = Path(text).expanduser() if text else cache_dir() / "spark-store"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = f"{STORE_ENV}={text!r}" if text else "the cache folder"
        raise ConfigError(f"cannot create the embedding store under {where}: {exc.strerror or exc}") from None
    return str(folder.resolve())


def _stored(table: pa.Table, n: int, dim: int, folder: str) -> tuple[StoredMatrix, StoredMatrix, list[dict[str, Any]]]:
    """The store the tasks wrote (each info names its part), checked to cover rows 0:n once."""
    infos = [json.loads(x) for x in table.column("info").to_pylist() if x]
    parts = {tuple(i["part"]) for i in infos}  # a retried task reports its part again
    try:
        store = EmbeddingStore(folder, [Part(a, b, bad, largest) for a, b, bad, largest in parts], dim, owned=True)
    except ValueError:
        store = None
    if store is None or store.n != n:
        raise EvaluationError(
            f"Spark embedding stored {sum(b - a for a, b, *_ in parts)} of {n} rows; rerun the command"
        )
    return store.matrix("image"), store.matrix("text"), infos


def _embedding_record(infos: list[dict[str, Any]], per_batch: int, source: dict[str, Any]) -> dict[str, Any]:
    from harness.io import cache_dir

    driver_cache = str(cache_dir().resolve())
    caches = sorted({(i["host"], i["cache"]) for i in infos})
    shared = all(c == driver_cache and h == socket.gethostname() for h, c in caches)
    return {
        "where": "executors (mapInArrow)",
        "records_per_batch": per_batch,
        "python_workers": len({(i["host"], i["pid"]) for i in infos}),
        "model": f"loaded once per Python worker from {source['how']}, fingerprint checked",
        "devices": sorted({str(i.get("device", "cpu")) for i in infos}),
        "decoded_cover_cache": (
            f"shared cache folder {driver_cache}" if shared else f"per-executor caches ({len(caches)} folders)"
        ),
        "peak_worker_rss_mib": max([i["rss_mib"] for i in infos] or [0.0]),
    }
