"""Retrieval at scale: full duplicate-aware ranks (both directions) vs a bare chunked matrix product.

    python benchmarks/bench_retrieval_scale.py            # N = 50,000 pairs, d = 512
    python benchmarks/bench_retrieval_scale.py --n 10000  # quicker

Prints both times, their ratio (target <= 1.2) and the peak resident memory of each phase
(it must grow like N·d + chunk·N, never N²: an N×N float32 matrix at N = 50,000 is 10 GB).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch
from machine import machine_line

from harness.evaluate.metrics import retrieval_names, statistic_of, values_from_ranks
from harness.evaluate.retrieval import DEFAULT_CHUNK_BYTES, Certificate, retrieval_ranks
from harness.evaluate.score_chunks import tile_shape
from harness.evaluate.stats import statistic

BARE_CHUNK_BYTES = 128 * 2**20  # the reference: row chunks of 128 MiB of float32 scores, the whole width


def peak_rss_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20 / (1024 if scale == 1 else 1)


def bare_chunked_product(images: torch.Tensor, texts: torch.Tensor, chunk: int) -> float:
    """The reference: the same score matrix, chunk by chunk, with nothing computed from it."""
    out = torch.empty((min(chunk, len(images)), len(texts)))
    texts_t = texts.T.contiguous()
    checksum = 0.0
    for r0 in range(0, len(images), chunk):
        r1 = min(r0 + chunk, len(images))
        torch.mm(images[r0:r1], texts_t, out=out[: r1 - r0])
        checksum += float(out[0, 0])
    return checksum


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument(
        "--duplicates", type=float, default=0.05, help="fraction of items sharing a group with another item"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16-n", type=int, default=5_000, help="items for the bfloat16-products line")
    parser.add_argument(
        "--positive-noise",
        type=float,
        default=None,
        help="texts = normalise(image + noise x a random unit vector), like a trained model's "
        "pairs (default: independent random texts, the worst case for rescoring)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="interleaved runs of each; the best time of each is compared (shared CPUs are noisy)",
    )
    args = parser.parse_args(argv)
    print(machine_line())

    gen = torch.Generator().manual_seed(args.seed)
    images = torch.nn.functional.normalize(torch.randn(args.n, args.dim, generator=gen), dim=1)
    texts = torch.nn.functional.normalize(torch.randn(args.n, args.dim, generator=gen), dim=1)
    if args.positive_noise is not None:
        texts = torch.nn.functional.normalize(images + args.positive_noise * texts, dim=1)
    rng = np.random.default_rng(args.seed)
    groups = np.arange(args.n)
    dup = rng.random(args.n) < args.duplicates
    groups[dup] = rng.integers(0, args.n, int(dup.sum()))  # some items join another item's group
    chunk = max(1, BARE_CHUNK_BYTES // (4 * args.n))
    rss0 = peak_rss_mib()
    print(
        f"N={args.n:,} d={args.dim} groups={len(np.unique(groups)):,} bare chunk={chunk} rows, "
        f"certified tiles={tile_shape(args.n, args.n, DEFAULT_CHUNK_BYTES)} "
        f"threads={torch.get_num_threads()} (inputs: {rss0:,.0f} MiB peak RSS)"
    )

    bare_times, our_times, bare_cpu, our_cpu = [], [], [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        bare_chunked_product(images, texts, chunk)
        bare_times.append(time.perf_counter() - t0)
        bare_cpu.append(time.process_time() - c0)
        rss_bare = peak_rss_mib()

        t0, c0 = time.perf_counter(), time.process_time()
        certificate = Certificate()
        ranks = retrieval_ranks(images, texts, groups, certificate=certificate)
        our_times.append(time.perf_counter() - t0)
        our_cpu.append(time.process_time() - c0)
        rss_ours = peak_rss_mib()
    bare, ours = min(bare_times), min(our_times)

    for direction, r in ranks.items():
        summary = "  ".join(
            f"{m}={statistic(values_from_ranks(r.ranks, m), statistic_of(m)):.4g}" for m in retrieval_names((1, 5, 10))
        )
        print(f"  {direction}: {summary}")
    runs = lambda times: ", ".join(f"{t:.2f}" for t in times)  # noqa: E731
    print(f"bare chunked product: {bare:7.2f} s (runs: {runs(bare_times)})   peak RSS {rss_bare:,.0f} MiB")
    print(
        f"retrieval (both dir): {ours:7.2f} s (runs: {runs(our_times)})   peak RSS {rss_ours:,.0f} MiB "
        f"(+{rss_ours - rss0:,.0f} MiB over the inputs)"
    )
    print(
        f"ratio retrieval / bare product: {ours / bare:.2f} wall, {min(our_cpu) / min(bare_cpu):.2f} CPU time "
        "(target <= 1.2; CPU time is the steadier figure on a shared machine)"
    )
    exact = certificate.to_dict()
    print(
        f"certified exact: kernel {exact['kernel']}, bound {exact['relative_bound']:.3g}; rescored "
        f"{exact['rescored_pairs']:,} of {exact['pairs']:,} pairs ({exact['rescored_share']:.3%})"
    )
    print(f"an N x N float32 matrix would need {args.n**2 * 4 / 2**20:,.0f} MiB")
    n = min(args.n, args.bf16_n)
    small = (images[:n], texts[:n], groups[:n])
    t0 = time.process_time()
    retrieval_ranks(*small)
    f32 = time.process_time() - t0
    bf16_cert = Certificate()
    t0 = time.process_time()
    retrieval_ranks(*small, kernel="bfloat16", certificate=bf16_cert)
    bf16 = time.process_time() - t0
    b = bf16_cert.to_dict()
    print(
        f"bfloat16 products at N={n:,}: {bf16:.2f} s CPU against {f32:.2f} s with float32 products "
        f"({bf16 / f32:.2f}x); bound {b['relative_bound']:.3g}, rescored {b['rescored_share']:.3%} of pairs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
