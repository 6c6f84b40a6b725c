"""bookclip's evaluation against CLIP_benchmark's retrieval evaluation: same covers, same model, one run.

    pip install --no-deps clip-benchmark     # or: pip install -e '.[bench]' (pulls its full dependency list)
    python benchmarks/bench_peer.py [--data ../shared/data/bookcovers] [--model fixtures:tiny-baseline]

Both sides see every row of the catalogue (4,944 real covers), the same model, the same captions
(bookclip's default caption template) and compute in float32 on the CPU:

  CLIP_benchmark  clip_benchmark.metrics.zeroshot_retrieval.evaluate(model, dataloader, tokenizer, "cpu",
                  amp=False, recall_k_list=[1, 5, 10]) over a dataloader built as its CLI builds one for a
                  retrieval dataset: each cover opened with PIL and put through the model's own preprocess
                  in a Dataset, one caption per image, batch 64, 4 workers (its CLI defaults).
                  `--peer-amp` runs it with autocast (bfloat16 on CPU), its CLI default.
  bookclip        harness.evaluate.evaluation.evaluate_views on the whole catalogue: ranks in both directions,
                  recall@1/5/10, mrr, median and mean rank with 1,000-resample bootstrap CIs, zero-shot category.

cold  bookclip on a fresh, empty BOOKCLIP_CACHE_DIR (covers decoded, captions and covers embedded) against
      CLIP_benchmark's first run in this process.
warm  bookclip again (embeddings cached) against CLIP_benchmark again (it keeps no cache); best of --repeats.
The image files are read once before anything is timed, so neither side pays for a cold disk.

Then, on the rows whose title is unique and which share no cover (file or content) and no book group with
another row, both tools run on just those rows and their recall@k must count the same hits:
bookclip's image_to_text/recall@k is CLIP_benchmark's text_retrieval_recall@k (an image query retrieves
texts) and text_to_image/recall@k is its image_retrieval_recall@k.
The last line reads `cold X.XXx, warm Y.YYx faster than CLIP_benchmark; recall equal on N unique rows: yes|no`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_line

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bookcovers"
KS = (1, 5, 10)


def peer_loader(model, catalogue, captions: list[str], *, batch_size: int, workers: int):
    """The dataloader CLIP_benchmark's CLI builds for a retrieval dataset (image, [captions]) per item."""
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset, default_collate

    paths = catalogue.frame["image_path"].astype(str).tolist()
    transform = model.preprocess

    class Covers(Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int):
            return transform(Image.open(paths[i]).convert("RGB")), [captions[i]]

    def image_captions_collate_fn(batch):  # clip_benchmark.datasets.builder's, which imports requests etc.
        transposed = list(zip(*batch, strict=True))
        return default_collate(transposed[0]), transposed[1]

    return DataLoader(
        Covers(),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=image_captions_collate_fn,
        generator=torch.Generator().manual_seed(0),
    )


def run_peer(model, catalogue, captions: list[str], args) -> tuple[float, dict[str, float]]:
    from clip_benchmark.metrics import zeroshot_retrieval

    loader = peer_loader(model, catalogue, captions, batch_size=args.peer_batch_size, workers=args.peer_workers)
    start = time.perf_counter()
    metrics = zeroshot_retrieval.evaluate(
        model.module.eval(), loader, model.tokenizer, "cpu", amp=args.peer_amp, recall_k_list=list(KS)
    )
    return time.perf_counter() - start, metrics


def run_bookclip(model, catalogue, config, view: str = "all"):
    from harness.evaluate.evaluation import evaluate_views

    start = time.perf_counter()
    evaluation = evaluate_views(model, catalogue, {view: catalogue}, config=config)
    return time.perf_counter() - start, evaluation


def unique_rows(catalogue):
    """Rows whose title, book group, cover file and cover content appear once in the catalogue."""
    import numpy as np
    import pandas as pd

    frame = catalogue.frame
    keep = ~frame["title"].astype(str).str.strip().str.casefold().duplicated(keep=False)
    keep &= ~frame["group_id"].duplicated(keep=False)
    keep &= ~frame["image_path"].map(lambda p: os.path.realpath(str(p))).duplicated(keep=False)
    if catalogue.image_digests is not None:
        keep &= ~pd.Series(list(catalogue.image_digests), index=frame.index).duplicated(keep=False)
    return catalogue.subset(np.flatnonzero(keep.to_numpy()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default="fixtures:tiny-baseline")
    parser.add_argument("--repeats", type=int, default=2, help="warm runs of each side (alternating); best counts")
    parser.add_argument("--peer-batch-size", type=int, default=64, help="CLIP_benchmark's --batch_size")
    parser.add_argument("--peer-workers", type=int, default=4, help="CLIP_benchmark's --num_workers")
    parser.add_argument(
        "--peer-amp",
        action="store_true",
        help="let CLIP_benchmark autocast (its CLI default; bfloat16 on CPU, so recall may differ)",
    )
    args = parser.parse_args(argv)
    print(machine_line(("clip-benchmark",)))
    try:
        import clip_benchmark.metrics.zeroshot_retrieval  # noqa: F401
    except ImportError as exc:
        print(f"CLIP_benchmark is not installed ({exc}); pip install --no-deps clip-benchmark", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bookclip-peer-") as tmp:
        os.environ["BOOKCLIP_CACHE_DIR"] = tmp  # bookclip's cold run: nothing decoded or embedded yet
        os.environ.setdefault("BOOKCLIP_NO_PROGRESS", "1")
        import torch

        from harness.data import load_catalogue
        from harness.evaluate.evaluation import EvalConfig
        from harness.evaluate.templates import render_captions, resolve_template
        from harness.models import load

        catalogue, _ = load_catalogue(args.data)
        model = load(args.model)
        config = EvalConfig(ks=KS)
        captions = render_captions(resolve_template(config.template), catalogue.frame)
        for path in catalogue.frame["image_path"]:  # warm the OS file cache for both sides alike
            Path(path).read_bytes()
        print(
            f"{len(catalogue):,} rows of {args.data}; model {args.model} ({model.parameter_count():,} parameters, "
            f"{model.image_size}px); torch threads {torch.get_num_threads()}; CLIP_benchmark: batch "
            f"{args.peer_batch_size}, {args.peer_workers} workers, amp {'on' if args.peer_amp else 'off'}"
        )

        peer_cold, peer_metrics = run_peer(model, catalogue, captions, args)
        ours_cold, evaluation = run_bookclip(model, catalogue, config)
        peer_warm, ours_warm = [], []
        for _ in range(args.repeats):
            peer_warm.append(run_peer(model, catalogue, captions, args)[0])
            ours_warm.append(run_bookclip(model, catalogue, config)[0])

        def show(name: str, ours: float, peer: float) -> None:
            print(f"{name}: bookclip {ours:6.2f} s, CLIP_benchmark {peer:6.2f} s: {peer / ours:5.2f}x")

        show("cold", ours_cold, peer_cold)
        show("warm", min(ours_warm), min(peer_warm))
        print(
            f"  warm runs: bookclip {', '.join(f'{t:.2f}' for t in ours_warm)} s; "
            f"CLIP_benchmark {', '.join(f'{t:.2f}' for t in peer_warm)} s"
        )
        for k in KS:
            print(
                f"  all rows, recall@{k}: bookclip image_to_text "
                f"{evaluation.metric(f'all/image_to_text/recall@{k}').value:.4f} text_to_image "
                f"{evaluation.metric(f'all/text_to_image/recall@{k}').value:.4f} (duplicate-aware); "
                f"CLIP_benchmark text_retrieval {peer_metrics[f'text_retrieval_recall@{k}']:.4f} "
                f"image_retrieval {peer_metrics[f'image_retrieval_recall@{k}']:.4f} (own row only)"
            )

        # recall on the rows where both definitions of a positive coincide
        unique = unique_rows(catalogue)
        n = len(unique)
        unique_captions = render_captions(resolve_template(config.template), unique.frame)
        _, peer_unique = run_peer(model, unique, unique_captions, args)
        _, ours_unique = run_bookclip(model, unique, EvalConfig(ks=KS, zero_shot=False, resamples=100), view="all")
        equal = True
        for k in KS:
            pairs = (("image_to_text", "text_retrieval"), ("text_to_image", "image_retrieval"))
            for ours_name, peer_name in pairs:
                ours_hits = round(ours_unique.metric(f"all/{ours_name}/recall@{k}").value * n)
                peer_hits = round(peer_unique[f"{peer_name}_recall@{k}"] * n)
                same = ours_hits == peer_hits
                equal &= same
                print(
                    f"  {n} unique rows, recall@{k}: bookclip {ours_name} {ours_hits}/{n}, CLIP_benchmark "
                    f"{peer_name} {peer_hits}/{n}: {'equal' if same else 'DIFFERENT'}"
                )
    ratio_cold, ratio_warm = peer_cold / ours_cold, min(peer_warm) / min(ours_warm)
    print(
        f"targets: cold >= 1.5x ({'met' if ratio_cold >= 1.5 else 'missed'}), "
        f"warm >= 5x ({'met' if ratio_warm >= 5 else 'missed'})"
    )
    print(
        f"cold {ratio_cold:.2f}x, warm {ratio_warm:.2f}x faster than CLIP_benchmark; "
        f"recall equal on {n} unique rows: {'yes' if equal else 'no'}"
    )
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
