"""GPU training throughput and model FLOPs utilisation (MFU) of the ViT-B/32 CLIP architecture.

    python benchmarks/bench_gpu_vitb32.py [--batch-size 256] [--steps 50] [--no-compile]

Random init (no download), bf16 autocast on fp32 master weights, fused AdamW, symmetric contrastive
loss; inputs are random 224 px tensors and random token ids, so only the model step is measured.
Needs only torch and open_clip. FLOPs per step are counted with torch.utils.flop_counter on one
eager forward+backward (matmuls and attention), and cross-checked against the analytic
6 * params * tokens estimate. MFU = counted FLOPs per second / peak; the default peak is an H100
SXM's dense bf16 989 TFLOP/s (--peak-tflops for other cards). Finishes in about a minute.

    python benchmarks/bench_gpu_vitb32.py --sweep [--budget-s 480]

runs the prepared set of variants (eager reference; torch.compile with each block type and mode;
batch 512), each in its own process so compilation caches and memory do not leak between them,
stops starting new ones when the budget is spent, and prints one table with each variant's
samples/s and MFU and its ratio to the eager reference. This is the one script to run on a lent
GPU machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from machine import machine_line

H100_SXM_DENSE_BF16_TFLOPS = 989.0


def analytic_flops(model: torch.nn.Module, batch: int, image_tokens: int, text_tokens: int) -> float:
    """6 * N * D for each tower's transformer (weights only, attention scores excluded)."""
    vision = sum(p.numel() for n, p in model.named_parameters() if n.startswith("visual.transformer"))
    text = sum(p.numel() for n, p in model.named_parameters() if n.startswith("transformer"))
    return 6.0 * batch * (vision * image_tokens + text * text_tokens)


# (label, extra arguments) of --sweep; the first is the reference the others are divided by
SWEEP: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("eager, default blocks", ("--no-compile",)),
    ("compile, default blocks", ()),
    ("compile, custom blocks", ("--block-type", "custom")),
    (
        "compile max-autotune-no-cudagraphs, custom",
        ("--block-type", "custom", "--compile-mode", "max-autotune-no-cudagraphs"),
    ),
    ("compile, custom, batch 512", ("--block-type", "custom", "--batch-size", "512")),
)


def sweep(budget_s: float, passthrough: list[str]) -> int:
    """Each SWEEP variant in a fresh process, within `budget_s`; one table of results and ratios."""
    start = time.perf_counter()
    rows: list[tuple[str, dict | None, str]] = []
    for label, extra in SWEEP:
        left = budget_s - (time.perf_counter() - start)
        if left < 30:
            rows.append((label, None, "not run: budget spent"))
            continue
        cmd = [sys.executable, __file__, *passthrough, *extra]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=left, check=False)
        except subprocess.TimeoutExpired:
            rows.append((label, None, f"stopped at the budget ({left:.0f} s left)"))
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append((label, None, f"failed (exit {done.returncode}): {last[:160]}"))
            continue
        rows.append((label, json.loads(lines[-1]), ""))
    reference = rows[0][1]
    print(f"{'variant':<46} {'samples/s':>10} {'MFU':>7} {'vs eager':>9}  note")
    for label, result, note in rows:
        if result is None:
            print(f"{label:<46} {'-':>10} {'-':>7} {'-':>9}  {note}")
            continue
        ratio = result["samples_per_s"] / reference["samples_per_s"] if reference else float("nan")
        print(
            f"{label:<46} {result['samples_per_s']:>10.0f} {100 * result['mfu']:>6.1f}% {ratio:>8.2f}x  "
            f"batch {result['batch_size']}, {result['device']}"
        )
    print(json.dumps({"sweep": [{"variant": label, "result": result, "note": note} for label, result, note in rows]}))
    return 0 if all(result is not None for _, result, _ in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture name")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (and compilation)")
    parser.add_argument("--no-compile", action="store_true", help="eager mode instead of torch.compile")
    parser.add_argument(
        "--compile-mode",
        default=None,
        help="torch.compile mode, e.g. reduce-overhead (CUDA graphs) or max-autotune-no-cudagraphs",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=H100_SXM_DENSE_BF16_TFLOPS,
        help="peak dense bf16 TFLOP/s assumed for MFU (default: H100 SXM, 989)",
    )
    parser.add_argument(
        "--block-type",
        choices=("default", "custom"),
        default="default",
        help="open_clip attention block: default (nn.MultiheadAttention) or custom "
        "(F.scaled_dot_product_attention; same architecture and parameters)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--sweep", action="store_true", help="run the prepared variants, each in its own process, and print one table"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=480.0,
        help="with --sweep: wall-clock budget; variants that would start later are skipped",
    )
    args = parser.parse_args(argv)
    print(machine_line())
    if args.sweep:
        passthrough = [
            "--model",
            args.model,
            "--batch-size",
            str(args.batch_size),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--peak-tflops",
            str(args.peak_tflops),
            "--device",
            args.device,
        ]
        return sweep(args.budget_s, passthrough)

    import open_clip

    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    device = torch.device(args.device)
    cfg = open_clip.get_model_config(args.model)
    for tower in ("vision_cfg", "text_cfg"):
        cfg[tower] = {**cfg[tower], "block_type": args.block_type}
    model = open_clip.model.CLIP(**cfg).to(device).train()
    image_size = model.visual.image_size if isinstance(model.visual.image_size, int) else model.visual.image_size[0]
    context = model.context_length
    patch = model.visual.patch_size[0] if isinstance(model.visual.patch_size, tuple) else model.visual.patch_size
    image_tokens = (image_size // patch) ** 2 + 1
    images = torch.randn(args.batch_size, 3, image_size, image_size, device=device)
    texts = torch.randint(0, model.vocab_size, (args.batch_size, context), device=device)
    labels = torch.arange(args.batch_size, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=device.type == "cuda")

    def loss_fn(m: torch.nn.Module) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            image_f, text_f, scale = m(images, texts)[:3]
            logits = scale * image_f @ text_f.T
        logits = logits.float()
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(model).backward()
    optimizer.zero_grad(set_to_none=True)
    counted = float(counter.get_total_flops())
    estimate = analytic_flops(model, args.batch_size, image_tokens, context)

    step_model = model if args.no_compile or device.type != "cuda" else torch.compile(model, mode=args.compile_mode)

    def step() -> torch.Tensor:
        loss = loss_fn(step_model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            model.logit_scale.clamp_(0, 4.6052)
        return loss

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    elapsed = time.perf_counter() - t0
    steps_per_s = args.steps / elapsed
    achieved = counted * steps_per_s
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model": args.model,
        "batch_size": args.batch_size,
        "compiled": step_model is not model,
        "compile_mode": args.compile_mode,
        "block_type": args.block_type,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "samples_per_s": round(args.batch_size * steps_per_s, 1),
        "step_ms": round(1000 / steps_per_s, 2),
        "tflop_per_step_counted": round(counted / 1e12, 3),
        "tflop_per_step_analytic": round(estimate / 1e12, 3),
        "achieved_tflops": round(achieved / 1e12, 1),
        "peak_tflops_assumed": args.peak_tflops,
        "mfu": round(achieved / (args.peak_tflops * 1e12), 4),
        "warmup_s": round(warm_s, 1),
        "final_loss": round(float(loss.detach()), 4),
        "max_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
    }
    print(
        f"{result['model']} bf16 autocast, batch {args.batch_size} on {result['device']}: "
        f"{result['samples_per_s']:.0f} samples/s, {result['achieved_tflops']} TFLOP/s, "
        f"MFU {100 * result['mfu']:.1f}% of {args.peak_tflops:g} TFLOP/s (target >= 35% on an H100)"
    )
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
