"""Embedding throughput and warm re-evaluation on the real book covers.

    python benchmarks/bench_eval.py [--data ../shared/data/bookcovers] [--model tiny:vit-xs] [--n 1000]

1. Cold embedding of N real covers and their titles, in one run on the same model:
   - reference: the original write-up's loop: each cover opened with PIL, put through the model's
     preprocess and encoded alone; each title tokenised and encoded alone;
   - ours: harness.evaluate.embed on an empty cache (decode once into the image cache, batches).
   Prints both times and the ratio (target >= 5x).
2. Warm re-evaluation: every row of the catalogue (about 5,000), embeddings cached: retrieval in
   both directions, all metrics with 1,000-resample bootstrap CIs, zero-shot category. Target < 2 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_line
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bookcovers"


def reference_loop(model, catalogue) -> tuple[np.ndarray, np.ndarray]:
    """One cover, one title at a time, as the original write-up did."""
    images, texts = [], []
    with torch.no_grad():
        for path in catalogue.frame["image_path"]:
            image = Image.open(path).convert("RGB")
            x = model.preprocess(image).unsqueeze(0)
            e = model.encode_images(x)
            images.append((e / e.norm(dim=-1, keepdim=True))[0].numpy())
        for title in catalogue.frame["title"]:
            e = model.encode_texts([title])
            texts.append((e / e.norm(dim=-1, keepdim=True))[0].numpy())
    return np.stack(images), np.stack(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default="tiny:vit-xs")
    parser.add_argument("--n", type=int, default=1000, help="covers in the cold-embedding comparison")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(machine_line())

    with tempfile.TemporaryDirectory(prefix="bookclip-bench-") as tmp:
        os.environ["BOOKCLIP_CACHE_DIR"] = tmp  # cold: nothing decoded or embedded yet
        os.environ.setdefault("BOOKCLIP_NO_PROGRESS", "1")
        from harness.data import load_catalogue
        from harness.evaluate.embed import embed
        from harness.evaluate.evaluation import EvalConfig, evaluate_views
        from harness.models import load

        catalogue, report = load_catalogue(args.data)
        model = load(args.model)
        rng = np.random.default_rng(args.seed)
        sample = catalogue.subset(np.sort(rng.choice(len(catalogue), size=min(args.n, len(catalogue)), replace=False)))
        print(
            f"model {args.model} ({model.parameter_count():,} parameters, {model.image_size}px), "
            f"{len(sample)} covers from {args.data}, torch threads={torch.get_num_threads()}"
        )

        t0 = time.perf_counter()
        ref_images, ref_texts = reference_loop(model, sample)
        reference = time.perf_counter() - t0

        t0 = time.perf_counter()
        ours = embed(model, sample)
        cold = time.perf_counter() - t0

        image_gap = float(np.abs(ours.images - ref_images).max())
        text_gap = float(np.abs(ours.texts - ref_texts).max())
        print(f"reference loop (one at a time): {reference:7.2f} s")
        print(f"embed, cold cache:              {cold:7.2f} s")
        print(
            f"speed-up: {reference / cold:.1f}x (target >= 5x); max |difference| images {image_gap:.1e}, "
            f"titles {text_gap:.1e}"
        )

        config = EvalConfig(seed=args.seed)
        views = {"all": catalogue}
        t0 = time.perf_counter()
        evaluate_views(model, catalogue, views, config=config)  # fills the caches (not timed below)
        fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluation = evaluate_views(model, catalogue, views, config=config)
        warm = time.perf_counter() - t0
        r5 = evaluation.metric("all/image_to_text/recall@5")
        print(
            f"warm re-evaluation of {len(catalogue):,} items ({len(evaluation.metrics)} metrics, "
            f"{config.resamples} resamples): {warm:.2f} s (target < 2 s; first, cold: {fill:.1f} s); "
            f"all/image_to_text/recall@5 = {r5.value:.4f} [{r5.ci_low:.4f}, {r5.ci_high:.4f}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
