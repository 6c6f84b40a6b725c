"""GPU training throughput and model FLOPs utilisation (MFU) of the ViT-B/32 CLIP architecture.

    python benchmarks/bench_gpu_vitb32.py [--batch-size 256] [--steps 50] [--no-compile]

Random init (no download), bf16 autocast on fp32 master weights, fused AdamW, symmetric contrastive
loss; inputs are random 224 px tensors and random token ids, so only the model step is measured.
Needs only torch and open_clip. FLOPs per step are counted with torch.utils.flop_counter on one
eager forward+backward (matmuls and attention), and cross-checked against the analytic
6 * params * tokens estimate. MFU = counted FLOPs per second / peak; the default peak is an H100
SXM's dense bf16 989 TFLOP/s (--peak-tflops for other cards). Finishes in about a minute.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

H100_SXM_DENSE_BF16_TFLOPS = 989.0


def analytic_flops(model: torch.nn.Module, batch: int, image_tokens: int, text_tokens: int) -> float:
    """6 * N * D for each tower's transformer (weights only, attention scores excluded)."""
    vision = sum(p.numel() for n, p in model.named_parameters() if n.startswith("visual.transformer"))
    text = sum(p.numel() for n, p in model.named_parameters() if n.startswith("transformer"))
    return 6.0 * batch * (vision * image_tokens + text * text_tokens)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture name")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (and compilation)")
    parser.add_argument("--no-compile", action="store_true", help="eager mode instead of torch.compile")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode, e.g. reduce-overhead (CUDA graphs) or max-autotune-no-cudagraphs")
    parser.add_argument("--peak-tflops", type=float, default=H100_SXM_DENSE_BF16_TFLOPS,
                        help="peak dense bf16 TFLOP/s assumed for MFU (default: H100 SXM, 989)")
    parser.add_argument("--block-type", choices=("default", "custom"), default="default",
                        help="open_clip attention block: default (nn.MultiheadAttention) or custom "
                             "(F.scaled_dot_product_attention; same architecture and parameters)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

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
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1,
                                  fused=device.type == "cuda")

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
        "model": args.model, "batch_size": args.batch_size, "compiled": step_model is not model, "compile_mode": args.compile_mode, "block_type": args.block_type,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "samples_per_s": round(args.batch_size * steps_per_s, 1),
        "step_ms": round(1000 / steps_per_s, 2),
        "tflop_per_step_counted": round(counted / 1e12, 3),
        "tflop_per_step_analytic": round(estimate / 1e12, 3),
        "achieved_tflops": round(achieved / 1e12, 1),
        "peak_tflops_assumed": args.peak_tflops,
        "mfu": round(achieved / (args.peak_tflops * 1e12), 4),
        "warmup_s": round(warm_s, 1), "final_loss": round(float(loss.detach()), 4),
        "max_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
    }
    print(f"{result['model']} bf16 autocast, batch {args.batch_size} on {result['device']}: "
          f"{result['samples_per_s']:.0f} samples/s, {result['achieved_tflops']} TFLOP/s, "
          f"MFU {100 * result['mfu']:.1f}% of {args.peak_tflops:g} TFLOP/s (target >= 35% on an H100)")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
