"""Exact ranks on Spark executors vs the local engine, on the same cores, in one run.

    python benchmarks/bench_spark_eval.py                    # N = 100,000 pairs, d = 512, local[2]
    python benchmarks/bench_spark_eval.py --n 20000          # quicker
    python benchmarks/bench_spark_eval.py --gallery-mb 16    # stream the gallery in pieces of <= 16 MiB

Synthetic L2-normalised embeddings with duplicate groups (editions) and exact ties. Both
directions of duplicate-aware pessimistic ranks are computed by the local engine (this process,
torch on all cores) and by the spark-local engine (local[cores]: query blocks per task against a
broadcast gallery, or, when the gallery is larger than --gallery-mb, against one column piece of
it per task); the ranks must be equal bit for bit. Prints both times (the Spark one with its
session already started), their ratio (target <= 1.5), whether the gallery was broadcast or
streamed (and in how many pieces) and the peak resident memory per Python worker (the Spark tasks'
own getrusage).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, d), dtype=np.float32)
    texts = images + 1.5 * rng.standard_normal((n, d), dtype=np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    groups = np.arange(n)
    editions = rng.choice(n, size=n // 20, replace=False)  # 5% of rows are another edition of some book
    groups[editions] = rng.integers(0, n, size=len(editions))
    texts[editions[: n // 200]] = texts[0]  # and some exact ties
    return images, texts, groups.astype(str)


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
    from harness.settings import mebibytes
    from harness.spark import get_or_create_session

    budget = None if args.gallery_mb is None else mebibytes(args.gallery_mb, "--gallery-mb")

    torch.set_num_threads(args.cores)
    images, texts, groups = synthetic(args.n, args.d)
    print(f"N={args.n:,} d={args.d} cores={args.cores}: both directions, exact duplicate-aware ranks")

    t0 = time.perf_counter()
    want = get_engine("local").retrieval_ranks(images, texts, groups)
    local_s = time.perf_counter() - t0
    print(f"local engine        {local_s:8.2f} s")

    session = get_or_create_session(master=f"local[{args.cores}]")
    # start the Python workers and import torch and the ranking code there once, as a run with several views does
    started = (
        session.sparkContext.parallelize(range(args.cores), args.cores)
        .map(
            lambda x: __import__("harness.evaluate.engines.spark_tasks", fromlist=["peak_rss_mib"]).peak_rss_mib(),
        )
        .collect()
    )
    engine = get_engine("spark-local", session=session, gallery_bytes=budget)
    t0 = time.perf_counter()
    got = engine.retrieval_ranks(images, texts, groups)
    spark_s = time.perf_counter() - t0
    ranking = engine.describe()["ranks"]
    print(f"spark-local engine  {spark_s:8.2f} s  ({ranking['tasks']} tasks)")
    same = all(np.array_equal(want[k].ranks, got[k].ranks) for k in want)
    print(
        f"ranks equal to the local engine's: {same} (both certified exact; "
        f"{ranking['exact']['rescored_pairs']:,} of {ranking['exact']['pairs']:,} pairs rescored)"
    )
    print(f"ratio spark-local / local: {spark_s / local_s:.2f}x (target <= 1.5x)")
    gallery = f"gallery {texts.nbytes / 2**20:.1f} MiB, budget {ranking['gallery_budget_mib']:g} MiB"
    print(
        f"gallery {ranking['gallery']}: "
        + (f"{ranking['pieces']} column pieces per product ({gallery})" if ranking["streamed"] else gallery)
    )
    print(
        f"peak memory per Python worker: {ranking['peak_worker_rss_mib']:.0f} MiB "
        f"({max(started):.0f} MiB once torch and the ranking code are loaded; "
        f"an N x N float32 matrix would be {4 * args.n**2 / 2**30:.1f} GiB)"
    )
    print(
        f"peak memory a ranking task added to its worker: {ranking['peak_task_added_mib']:.0f} MiB "
        "(its blocks, piece and chunks; bounded by the budgets, not by N)"
    )
    driver_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"driver peak RSS: {driver_mib:,.0f} MiB (the embeddings are {2 * texts.nbytes / 2**20:,.0f} MiB)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
