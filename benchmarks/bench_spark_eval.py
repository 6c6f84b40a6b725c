"""Exact ranks on Spark executors vs the local engine, on the same cores, in one run.

    python benchmarks/bench_spark_eval.py                    # N = 100,000 pairs, d = 512, local[2]
    python benchmarks/bench_spark_eval.py --n 20000          # quicker
    python benchmarks/bench_spark_eval.py --gallery-mb 16    # stream the gallery in pieces of <= 16 MiB

Synthetic L2-normalised embeddings with duplicate groups (editions) and exact ties, made and kept on
the executors: each task writes one part to an embedding store, as the Spark engine's embed does, and
the driver holds only the group ids. The spark-local engine (local[cores]) ranks both directions from
the store: each task reads its query block and one gallery piece (the whole gallery when it fits
--gallery-mb); the driver streams the norms and positive pairs of the plan and adds the counts. Then
the local engine (this process, torch on all cores) ranks the same embeddings read into memory; the
ranks must be equal bit for bit. Prints both times (the Spark one with its session already started),
their ratio (target <= 1.5), the pieces, the peak resident memory per Python worker (the Spark tasks'
own getrusage) and the driver's: its RSS before ranking and its peak while ranking, per item.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

PART_ROWS = 8192  # rows each executor task generates and stores


def synthetic_groups(n: int, seed: int = 0) -> np.ndarray:
    """Group ids: 5% of rows are another edition of some book (the driver's O(N) strings)."""
    rng = np.random.default_rng([seed, 1])
    groups = np.arange(n)
    editions = rng.choice(n, size=n // 20, replace=False)
    groups[editions] = rng.integers(0, n, size=len(editions))
    return groups.astype(str)


def synthetic_part(k: int, n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows k*PART_ROWS onward of L2-normalised synthetic embeddings; every 200th text is an exact copy of
    text 0 (exact ties). Deterministic per part, so any task can make (and remake) any part."""

    def make(part: int) -> tuple[np.ndarray, np.ndarray]:
        rows = min(PART_ROWS, n - part * PART_ROWS)
        rng = np.random.default_rng([seed, 0, part])
        images = rng.standard_normal((rows, d), dtype=np.float32)
        texts = images + 1.5 * rng.standard_normal((rows, d), dtype=np.float32)
        images /= np.linalg.norm(images, axis=1, keepdims=True)
        texts /= np.linalg.norm(texts, axis=1, keepdims=True)
        return images, texts

    images, texts = make(k)
    texts[::200] = make(0)[1][0]
    return images, texts


def store_on_executors(sc, folder: str, n: int, d: int):
    """Each task makes one part and writes it to the embedding store; only the part records come back."""
    from harness.evaluate.embedding_store import EmbeddingStore, write_part

    def write(k: int):
        images, texts = synthetic_part(k, n, d)
        return write_part(folder, k * PART_ROWS, images, texts)

    parts_n = -(-n // PART_ROWS)
    parts = sc.parallelize(range(parts_n), parts_n).map(write).collect()
    return EmbeddingStore(folder, parts, d, owned=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--cores", type=int, default=2, help="local[cores] and torch threads (default 2)")
    parser.add_argument(
        "--gallery-mb",
        type=float,
        default=None,
        help="gallery budget in MiB: a larger gallery is streamed in column pieces "
        "(default: $BOOKCLIP_SPARK_GALLERY_MB, else 256)",
    )
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import torch

    from harness.evaluate.engines import get_engine
    from harness.evaluate.engines.spark_tasks import TaskMemory
    from harness.settings import mebibytes
    from harness.spark import get_or_create_session

    budget = None if args.gallery_mb is None else mebibytes(args.gallery_mb, "--gallery-mb")

    torch.set_num_threads(args.cores)
    groups = synthetic_groups(args.n)
    print(f"N={args.n:,} d={args.d} cores={args.cores}: both directions, exact duplicate-aware ranks")

    session = get_or_create_session(master=f"local[{args.cores}]")
    # start the Python workers and import torch and the ranking code there once, as a run with several views does
    started = (
        session.sparkContext.parallelize(range(args.cores), args.cores)
        .map(
            lambda x: __import__("harness.evaluate.engines.spark_tasks", fromlist=["peak_rss_mib"]).peak_rss_mib(),
        )
        .collect()
    )
    # the embeddings are made and kept on the executors, as the Spark engine's embed keeps what it embeds
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        store = store_on_executors(session.sparkContext, folder, args.n, args.d)
        engine = get_engine("spark-local", session=session, gallery_bytes=budget)
        # load torch's kernels and compile the exact score in the driver first (one-time costs, not O(N))
        engine.retrieval_ranks(store.matrix("image")[:64], store.matrix("text")[:64], groups[:64])
        engine = get_engine("spark-local", session=session, gallery_bytes=budget)
        driver = TaskMemory()  # the driver's peak from here on (Linux's VmHWM, reset now)
        t0 = time.perf_counter()
        got = engine.retrieval_ranks(store.matrix("image"), store.matrix("text"), groups)
        spark_s = time.perf_counter() - t0
        driver_added = driver.added_mib()
        ranking = engine.describe()["ranks"]
        print(f"spark-local engine  {spark_s:8.2f} s  ({ranking['tasks']} tasks, read from the embedding store)")

        # the reference: the local engine on the same embeddings, read into this process
        images, texts = np.asarray(store.matrix("image")), np.asarray(store.matrix("text"))
        t0 = time.perf_counter()
        want = get_engine("local").retrieval_ranks(images, texts, groups)
        local_s = time.perf_counter() - t0
        print(f"local engine        {local_s:8.2f} s  (embeddings in memory)")
    same = all(np.array_equal(want[k].ranks, got[k].ranks) for k in want)
    print(
        f"ranks equal to the local engine's: {same} (both certified exact; "
        f"{ranking['exact']['rescored_pairs']:,} of {ranking['exact']['pairs']:,} pairs rescored)"
    )
    print(f"ratio spark-local / local: {spark_s / local_s:.2f}x (target <= 1.5x)")
    gallery = f"gallery {texts.nbytes / 2**20:.1f} MiB, budget {ranking['gallery_budget_mib']:g} MiB"
    print(f"gallery {ranking['gallery']}: {ranking['pieces']} column piece(s) per product ({gallery})")
    print(
        f"peak memory per Python worker: {ranking['peak_worker_rss_mib']:.0f} MiB "
        f"({max(started):.0f} MiB once torch and the ranking code are loaded; "
        f"an N x N float32 matrix would be {4 * args.n**2 / 2**30:.1f} GiB)"
    )
    print(
        f"peak memory a ranking task added to its worker: {ranking['peak_task_added_mib']:.0f} MiB "
        "(its blocks, piece and chunks; bounded by the budgets, not by N)"
    )
    added = f"{driver_added:,.0f} MiB, {driver_added * 2**20 / args.n:,.0f} bytes an item" if driver_added else "n/a"
    print(
        f"driver: {driver.start / 1024 if driver.start else 0:,.0f} MiB before ranking, ranking added at its peak "
        f"{added} (the embeddings, kept on the executors, are {2 * texts.nbytes / args.n:,.0f} bytes an item)"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
