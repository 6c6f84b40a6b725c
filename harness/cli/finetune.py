"""`bookclip finetune`: fine-tune a CLIP checkpoint on a catalogue with TorchDistributor (or torchrun)."""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.finetune.config import FREEZE, LAUNCHERS, METHODS, PRECISIONS, RECIPE_FIELDS, FinetuneConfig

if TYPE_CHECKING:
    from harness.report.model import RunReport

# flag dest -> FinetuneConfig field, for the options that map one to one
_FIELDS = (
    "data",
    "categories",
    "baseline",
    "out",
    "image_root",
    "seed",
    "train_seed",
    "max_train_rows",
    "template",
    "category_prompt_fraction",
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum",
    "lr",
    "weight_decay",
    "warmup_steps",
    "min_lr_ratio",
    "grad_clip",
    "precision",
    "freeze",
    "checkpoint_every",
    "keep_checkpoints",
    "launcher",
    "num_processes",
    "num_workers",
    "threads",
    "timeout_s",
    "heldout_fraction",
    "replay_fraction",
    "method",
    "distill_weight",
    "validation_fraction",
    "wise_max_drop",
    "fail_at_step",
    "fail_rank",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune a CLIP model on a catalogue (TorchDistributor, torchrun or inline)",
        description="Fine-tune a model on the training split of a catalogue's categories and write "
        "OUT/model.safetensors, OUT/manifest.json and a JSONL training log OUT/train_log.jsonl. "
        "Options come from defaults, then --config TOML, then flags.",
    )
    p.add_argument("--config", metavar="TOML", help="read options from a TOML file (keys as FinetuneConfig fields)")
    p.add_argument(
        "--data",
        nargs="+",
        metavar="PATH",
        help="catalogue: a directory of <Category>/<Category>.csv, CSV files or globs "
        "(default: the generated fixture catalogue)",
    )
    p.add_argument("--image-root", metavar="DIR", help="where the CSVs' image paths point (default: beside them)")
    p.add_argument("--categories", nargs="+", metavar="NAME", help="categories to train on (default Mind-Body-Spirit)")
    p.add_argument("--baseline", metavar="SPEC", help="model to start from (default fixtures:tiny-baseline)")
    p.add_argument("--out", metavar="DIR", help="run directory (model, manifest, logs, resumable checkpoints)")
    p.add_argument("--launcher", choices=LAUNCHERS.names(), help="how workers start (default spark-local)")
    p.add_argument("--num-processes", type=int, metavar="N", help="training processes (default 1)")
    p.add_argument("--use-gpu", action="store_true", default=None, help="train on GPUs (nccl, bf16)")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, metavar="N", help="global batch per optimiser step")
    p.add_argument("--grad-accum", type=int, metavar="N", help="micro-batches per optimiser step")
    p.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--warmup-steps", type=int, metavar="N")
    p.add_argument("--min-lr-ratio", type=float, metavar="R", help="final LR as a fraction of the peak")
    p.add_argument("--grad-clip", type=float, metavar="NORM", help="clip the gradient norm (0: off)")
    p.add_argument("--precision", choices=PRECISIONS, help="auto: bf16 on GPU, fp32 on CPU")
    p.add_argument("--freeze", choices=FREEZE, help="keep one tower's weights fixed")
    p.add_argument("--seed", type=int, help="drives the split, data order and initialisation")
    p.add_argument(
        "--train-seed", type=int, help="a seed for data order and initialisation apart from the split's --seed"
    )
    p.add_argument("--heldout-fraction", type=float, metavar="F")
    p.add_argument(
        "--replay-fraction",
        type=float,
        metavar="F",
        help="rehearse this share of the other categories' books alongside the tuned ones, "
        "which limits forgetting (default 0); evaluation keeps them out of the cross-category views",
    )
    p.add_argument(
        "--method",
        choices=METHODS.names(),
        help="what limits forgetting: plain (contrastive loss only, the default), distill (feature "
        "distillation toward the frozen baseline), wise (weight interpolation toward the baseline, "
        "alpha chosen on validation books); combines with --replay-fraction",
    )
    p.add_argument("--distill-weight", type=float, metavar="W", help="weight of the distillation loss (default 1)")
    p.add_argument(
        "--validation-fraction",
        type=float,
        metavar="F",
        help="share of the training and rehearsed books --method wise keeps out to choose alpha (default 0.15)",
    )
    p.add_argument(
        "--wise-max-drop",
        type=float,
        metavar="D",
        help="how far rehearsed books' validation R@1 may fall below the baseline's (default 0.02)",
    )
    p.add_argument("--max-train-rows", type=int, metavar="N", help="train on a seeded subset of N rows")
    p.add_argument("--template", help="caption template, e.g. '{title} by {author}'")
    p.add_argument(
        "--category-prompt-fraction",
        type=float,
        metavar="F",
        help="caption this share of the training rows (a seeded draw each epoch) with their category's "
        "zero-shot prompt, 'a book about {category}', instead of the template, so that zero-shot "
        "category classification is learnt too (default 0)",
    )
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="resumable checkpoint every N steps (0: end only)")
    p.add_argument("--keep-checkpoints", type=int, metavar="N")
    p.add_argument("--resume", action="store_true", default=None, help="continue from OUT's latest checkpoint")
    p.add_argument(
        "--overwrite",
        action="store_true",
        default=None,
        help="replace the finished model in OUT; the old one stays until the new run succeeds",
    )
    p.add_argument("--num-workers", type=int, metavar="N", help="DataLoader workers per process")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads per process (0: cores / processes)")
    p.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the model (fused kernels: faster steps on GPUs after about a minute "
        "of compilation per process; same trained weights up to float rounding)",
    )
    p.add_argument("--timeout-s", type=int, metavar="S", help="collective-operation timeout")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="log the run to MLflow: the training curve per logged step (rank 0's log, so each step "
        "once), the model and manifest, and with --evaluate the evaluation (needs the mlflow extra; "
        "also on when MLFLOW_TRACKING_URI is set)",
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="then compare baseline and result on image-to-text R@5 (paired bootstrap CIs): held-out "
        "books of the tuned categories, and the other categories' books (forgetting)",
    )
    # fault injection, for testing launchers and failure handling
    p.add_argument("--fail-at-step", type=int, help=argparse.SUPPRESS)
    p.add_argument("--fail-rank", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=run_finetune)


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    flags: dict[str, Any] = {name: getattr(args, name) for name in _FIELDS if getattr(args, name, None) is not None}
    for name in ("use_gpu", "resume", "compile", "overwrite"):
        if getattr(args, name, None):
            flags[name] = True
    if args.categories:  # also accept "A,B"
        flags["categories"] = [c.strip() for arg in args.categories for c in arg.split(",") if c.strip()]
    if args.config:
        return FinetuneConfig.from_toml(args.config, **flags)
    return FinetuneConfig.from_dict(flags)


def run_finetune(args: argparse.Namespace) -> int:
    from harness.finetune.launch import launch
    from harness.progress import progress

    cfg = config_from_args(args)
    with contextlib.ExitStack() as stack:
        state: dict[str, Any] = {"done": 0, "advance": None, "first_loss": None}
        lock = threading.Lock()

        def on_progress(record: dict[str, Any]) -> None:
            with lock:
                if state["advance"] is None:  # the plan comes first, before the workers start
                    state["advance"] = stack.enter_context(progress("fine-tune", total=record["total_steps"]))
                if record.get("loss") is None:
                    return
                if state["first_loss"] is None:
                    state["first_loss"] = record["loss"]
                state["advance"](
                    record["step"] - state["done"], loss=f"{record['loss']:.4f}", samples_s=record.get("samples_per_s")
                )
                state["done"] = record["step"]

        manifest = launch(cfg, on_progress=on_progress)
    evaluation = _evaluate(cfg, manifest) if args.evaluate else None
    _log_to_mlflow(cfg, manifest, evaluation, args)
    if args.json:
        extra = {"evaluation": evaluation.to_dict()} if evaluation is not None else {}
        print(json.dumps({**manifest.to_dict(), **extra}, indent=2, sort_keys=True, default=str))
        return 0
    start = f"{state['first_loss']:.4f} -> " if state["first_loss"] is not None else ""
    print(
        f"fine-tuned {manifest.steps} steps on {manifest.train_rows} rows with {manifest.world_size} "
        f"process(es) ({manifest.launcher}) in {manifest.wall_s:.0f} s: loss {start}{manifest.final_loss:.4f}, "
        f"{manifest.samples_per_s:.1f} samples/s"
    )
    print(
        f"checkpoint {manifest.checkpoint} (fingerprint {manifest.fingerprint[:12]}); "
        f"training log {cfg.out.rstrip('/')}/train_log.jsonl"
    )
    if evaluation is None:
        return 0
    where = {
        "heldout": f"held-out covers of {', '.join(cfg.categories)}",
        "cross": "covers of the other categories (not trained on)",
    }
    for view, label in where.items():
        d = evaluation.comparison(f"{view}/image_to_text/recall@5")
        if d is not None:
            print(
                f"image-to-text R@5 on {d.n} {label}: {d.reference:.3f} -> {d.value:.3f} ({d.delta:+.3f}, "
                f"{evaluation.settings['confidence']:.0%} CI [{d.ci_low:+.3f}, {d.ci_high:+.3f}], "
                f"{d.test} p={d.p_value:.3g})"
            )
    print(f"evaluation {Path(cfg.out) / 'evaluation.json'} (bookclip report reads it)")
    return 0


def _evaluate(cfg: FinetuneConfig, manifest: Any) -> RunReport:
    """Baseline against the result on the held-out view and, when the catalogue has other categories,
    on cross, through the evaluation engine; written as `evaluation.json` in the run folder."""
    from harness.data import load_catalogue
    from harness.evaluate.compare import compare_evaluations
    from harness.evaluate.evaluation import EvalConfig, build_views, evaluate_views
    from harness.evaluate.leakage import trained_groups
    from harness.finetune.launch import resolve
    from harness.models import load
    from harness.report.build import add_comparison, add_evaluation, new_report

    resolved = resolve(cfg)
    catalogue, _ = load_catalogue(list(resolved.data), image_root=resolved.image_root)
    baseline = load(resolved.baseline)
    unseen = trained_groups(baseline, catalogue)  # the baseline's pretraining books leave both views
    views = build_views(
        catalogue,
        categories=resolved.categories,
        views=("heldout", "cross"),
        seed=resolved.seed,
        heldout_fraction=resolved.heldout_fraction,
        replay_fraction=resolved.replay_fraction,
        exclude_groups=unseen,
    )
    views = {name: rows for name, rows in views.items() if len(rows) > 5}
    config = EvalConfig(
        template=resolved.template,
        seed=resolved.seed,
        heldout_fraction=resolved.heldout_fraction,
        replay_fraction=resolved.replay_fraction,
        exclude_groups=unseen,
        per_category=False,
    )
    settings = config.stat_settings
    evaluations = [
        evaluate_views(model, catalogue, views, config=config) for model in (baseline, load(str(manifest.checkpoint)))
    ]
    report = new_report(
        "finetune",
        settings=settings,
        extra_settings={"ks": list(config.ks), "template": config.template},
        data={
            "fingerprint": catalogue.fingerprint,
            "view_sizes": {v: len(r) for v, r in views.items()},
            "categories": list(resolved.categories),
        },
    )
    add_evaluation(report, "baseline", evaluations[0])
    add_evaluation(report, "candidate", evaluations[1])
    add_comparison(
        report, "candidate", compare_evaluations(evaluations[0], evaluations[1], settings), reference="baseline"
    )
    report.write(Path(cfg.out) / "evaluation.json")
    return report


def _log_to_mlflow(cfg: FinetuneConfig, manifest: Any, evaluation: Any, args: argparse.Namespace) -> None:
    """The run as MLflow sees it: the evaluation report (or, without --evaluate, the two models), the
    manifest as params, rank 0's training log as the curve, the model and manifest as artifacts."""
    from harness.cli.evaluate import say_on_stderr
    from harness.finetune.runlog import RunFiles
    from harness.report.model import RunReport, environment_info
    from harness.tracking import log_if_wanted, wanted

    if not wanted(args.mlflow):  # nothing to assemble
        return

    report = (
        evaluation
        if evaluation is not None
        else RunReport(kind="finetune", name="finetune", environment=environment_info())
    )
    report.models.setdefault("baseline", {"spec": cfg.baseline})
    report.models.setdefault("candidate", {"spec": str(manifest.checkpoint), "fingerprint": manifest.fingerprint})
    recipe = {
        f"recipe.{name}": ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        for name in RECIPE_FIELDS
        for value in [getattr(cfg, name, None)]
    }
    report.sections.setdefault(
        "finetune",
        {k: v for k, v in {**manifest.to_dict(), **recipe}.items() if isinstance(v, (str, int, float, bool))},
    )
    files = RunFiles(cfg.out)
    log_if_wanted(
        report,
        [files.root / "evaluation.json"] if evaluation is not None else [],
        say_on_stderr,
        enabled=args.mlflow,
        train_log=files.read_train_log(),
        model_files=[files.model, files.manifest],
    )
