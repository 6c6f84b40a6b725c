"""`bookclip eval`, `bookclip compare` and `bookclip interpolate`: evaluate checkpoints on a catalogue."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.tracking import log_if_wanted

if TYPE_CHECKING:
    from harness.evaluate.evaluation import EvalConfig
    from harness.evaluate.results import Evaluation
    from harness.report.model import Kind, RunReport


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "eval",
        help="retrieval (both directions), zero-shot category and CIs for one model",
        description="Evaluate one model on a catalogue: duplicate-aware retrieval in both directions, "
        "zero-shot category, bootstrap CIs. Keys: <view>/<direction>/<metric>.",
    )
    ev.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="tiny:vit-xs, fixtures:tiny-baseline, openai:ViT-B/32, open_clip:ARCH/TAG or a checkpoint",
    )
    _common(ev)
    _outputs(ev)
    ev.set_defaults(func=run_eval)

    cmp = sub.add_parser(
        "compare",
        help="checkpoints side by side: deltas against the first with paired CIs and p-values",
        description="Evaluate every checkpoint on the same views and compare each to the first: paired "
        "bootstrap CI of the delta, McNemar exact p-value on recall hits, flip lists.",
    )
    cmp.add_argument("models", nargs="+", metavar="SPEC", help="two or more model specs; the first is the baseline")
    _common(cmp)
    _outputs(cmp)
    cmp.add_argument("--flips", type=int, default=5, metavar="N", help="flipped queries to show per view (default 5)")
    cmp.set_defaults(func=run_compare)

    wise = sub.add_parser(
        "interpolate",
        help="WiSE-FT: metrics along (1-a)*baseline + a*fine-tuned, best a under a constraint",
        description="Evaluate weight interpolations between a baseline and a fine-tuned checkpoint on the "
        "held-out and cross-category views; report the frontier and the best alpha whose "
        "cross-category metric stays within --max-cross-drop of the baseline.",
    )
    wise.add_argument("baseline", metavar="BASELINE_SPEC")
    wise.add_argument("finetuned", metavar="FINETUNED_SPEC")
    _common(wise)
    wise.add_argument("--alphas", default="0,0.25,0.5,0.75,1", help="alpha grid (default 0,0.25,0.5,0.75,1)")
    wise.add_argument(
        "--metric",
        default="image_to_text/recall@5",
        help="<direction>/<metric> to trade off; its registered direction says which way is better "
        "(recall up, ranks down)",
    )
    wise.add_argument(
        "--max-cross-drop",
        type=float,
        default=0.02,
        help="how much worse than at alpha=0 the cross-category metric may get, in the metric's own "
        "units (default 0.02)",
    )
    wise.add_argument("--save-alpha", metavar="FILE.safetensors", help="write the best alpha's checkpoint here")
    _outputs(wise)
    wise.set_defaults(func=run_interpolate)


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        metavar="FILE.json",
        help="write the run report here (metrics with CIs, comparisons, per-query ranks); "
        "`bookclip report FILE` shows it, --html draws it, --against compares it",
    )
    p.add_argument("--json", action="store_true", help="print the run report as JSON instead of tables")
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="log the run to MLflow: a parent run and one nested run per model (needs the mlflow "
        "extra; also on when MLFLOW_TRACKING_URI is set)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        nargs="+",
        help="catalogue: a directory of <Category>/<Category>.csv, CSV files or globs",
    )
    p.add_argument("--image-root", metavar="DIR", help="folder the CSVs' img_paths resolve under")
    p.add_argument(
        "--categories",
        type=_csv_list,
        metavar="A,B",
        help="training categories: gives views train, heldout, cross (default: one view 'all')",
    )
    p.add_argument("--views", type=_csv_list, metavar="V,W", help="subset of train,heldout,cross")
    p.add_argument(
        "--template",
        default="{title}",
        help="caption template: {title}, '{title} by {author}', 'a {category} book titled {title}', "
        "or a built-in name (title, title-by-author, category-title)",
    )
    p.add_argument("--ks", type=_int_list, default=(1, 5, 10), metavar="1,5,10", help="recall@k cut-offs")
    p.add_argument(
        "--pool",
        choices=("view", "catalogue"),
        default="view",
        help="candidates: the view's items (default) or the whole catalogue",
    )
    p.add_argument("--seed", type=int, default=0, help="drives the split and the bootstrap (default 0)")
    p.add_argument(
        "--replay-fraction",
        type=float,
        metavar="F",
        help="share of the other categories' books a fine-tune rehearsed, kept out of the cross view "
        "(default: read from the checkpoints' training metadata, else 0)",
    )
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="CI level (default 0.95); intervals are two-sided, so a paired difference whose 95%% CI "
        "excludes zero is significant at a one-sided 2.5%%",
    )
    p.add_argument("--no-zero-shot", action="store_true", help="skip zero-shot category classification")
    p.add_argument(
        "--batch-size",
        type=int,
        default=256,
        metavar="N",
        help="rows per forward pass when embedding (default 256; on CPU at most 64, which stay in cache)",
    )
    p.add_argument(
        "--device", default="cpu", help="where the model embeds and the local engine ranks: cpu (default), cuda, cuda:N"
    )
    add_engine_option(p)
    p.add_argument(
        "--score-kernel",
        default="float32",
        metavar="KERNEL",
        help="the fast product behind the ranks: float32 (default), tf32 or bfloat16 (GPU tensor cores); "
        "ranks are exact whichever: scores near a tie are checked in float64",
    )


def add_engine_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("local", "spark-local", "spark-cluster"),
        default="local",
        help="where embeddings and per-query ranks are computed: this process (default), a local Spark "
        "session, or the running Spark cluster (spark-submit or $SPARK_MASTER); same numbers",
    )


def _csv_list(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in _csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,5,10, got {text!r}") from None


def _float_list(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in _csv_list(text))
    except (ValueError, argparse.ArgumentTypeError):
        raise ConfigError(f"{what} must be numbers like 0,0.5,1, got {text!r}") from None


def _config(args: argparse.Namespace) -> EvalConfig:
    from harness.evaluate.evaluation import EvalConfig
    from harness.settings import replay_fraction

    if args.replay_fraction is not None:
        replay_fraction(args.replay_fraction, "--replay-fraction")
    return EvalConfig(
        template=args.template,
        ks=tuple(args.ks),
        pool=args.pool,
        seed=args.seed,
        resamples=args.resamples,
        confidence=args.confidence,
        zero_shot=not args.no_zero_shot,
        batch_size=args.batch_size,
        engine=args.engine,
        score_kernel=args.score_kernel,
    )


def _load_data(args: argparse.Namespace) -> tuple[Any, Any]:
    from harness.data.parquet import load_any

    sources = args.data[0] if len(args.data) == 1 else list(args.data)
    return load_any(sources, image_root=args.image_root)


def _load_models(specs: Sequence[str], args: argparse.Namespace, config: Any) -> tuple[list[Any], Any]:
    """The models, and the config with the replay fraction the views must honour: --replay-fraction,
    else the largest any of the checkpoints was fine-tuned with."""
    import dataclasses

    from harness.evaluate.evaluation import replay_fraction_of
    from harness.models import load

    models = [load(spec, device=args.device) for spec in specs]
    replay = args.replay_fraction if args.replay_fraction is not None else replay_fraction_of(models)
    return models, dataclasses.replace(config, replay_fraction=replay)


def _unseen_by_reference(models: Sequence[Any], catalogue: Any, config: EvalConfig) -> EvalConfig:
    """The books the first model (the reference) was trained on leave the cross-category views, so a
    change there is forgetting, not lost memorisation; the suites and `finetune --evaluate` do the same."""
    import dataclasses

    from harness.evaluate.leakage import trained_groups

    return dataclasses.replace(config, exclude_groups=trained_groups(models[0], catalogue))


def _training_overlap(
    models: Sequence[Any], catalogue: Any, args: argparse.Namespace, config: Any
) -> list[dict[str, Any]]:
    """Per model, the evaluated books it was trained on (see harness.evaluate.leakage); a warning
    on stderr for any held-out book, and for cross-category books of models after the first."""
    from harness.evaluate.evaluation import build_views
    from harness.evaluate.leakage import training_overlap

    if not args.categories:
        return []
    views = build_views(
        catalogue,
        categories=args.categories,
        views=args.views,
        seed=config.seed,
        heldout_fraction=config.heldout_fraction,
        replay_fraction=config.replay_fraction,
        exclude_groups=config.exclude_groups,
    )
    out = []
    for i, model in enumerate(models):
        overlap = training_overlap(model, catalogue, views)
        out.append({"model": model.spec, **overlap.to_dict()})
        for view, n in overlap.views.items():
            if n and (view == "heldout" or (view == "cross" and i > 0)):
                print(
                    f"bookclip: warning: {model.spec} was trained on {n} of the {len(views[view])} {view} books, "
                    f"so its {view} metrics are inflated; evaluate with the categories, --seed and "
                    "--replay-fraction it was fine-tuned with",
                    file=sys.stderr,
                )
    return out


def _evaluate(model: Any, catalogue: Any, args: argparse.Namespace, config: EvalConfig) -> Evaluation:
    from harness.evaluate.evaluation import evaluate

    return evaluate(model, catalogue, categories=args.categories, views=args.views, config=config)


# --------------------------------------------------------------------------- eval


def run_eval(args: argparse.Namespace) -> int:
    from harness.report.build import add_evaluation

    config = _config(args)  # template and options fail before any loading
    catalogue, load_report = _load_data(args)
    [model], config = _load_models([args.model], args, config)
    config = _unseen_by_reference([model], catalogue, config)
    overlap = _training_overlap([model], catalogue, args, config)
    report = _new_report("eval", catalogue, load_report, config, overlap)
    add_evaluation(report, "model", _evaluate(model, catalogue, args, config))
    return _emit(report, args)


# --------------------------------------------------------------------------- compare


def run_compare(args: argparse.Namespace) -> int:
    from harness.evaluate.compare import compare_evaluations
    from harness.report.build import add_comparison, add_evaluation

    if len(args.models) < 2:
        raise ConfigError("compare needs at least two model specs: BASELINE CANDIDATE [...]")
    config = _config(args)
    catalogue, load_report = _load_data(args)
    models, config = _load_models(args.models, args, config)
    config = _unseen_by_reference(models, catalogue, config)
    overlap = _training_overlap(models, catalogue, args, config)
    report = _new_report("compare", catalogue, load_report, config, overlap)
    evaluations = [_evaluate(model, catalogue, args, config) for model in models]
    roles = compare_roles(len(models))
    for role, evaluation in zip(roles, evaluations, strict=True):
        add_evaluation(report, role, evaluation)
    for role, evaluation in zip(roles[1:], evaluations[1:], strict=True):
        add_comparison(
            report, role, compare_evaluations(evaluations[0], evaluation, config.stat_settings), reference=roles[0]
        )
    from harness.report.slices import add_slices

    add_slices(report, catalogue)  # the first candidate against the baseline, slice by slice
    status = _emit(report, args)
    if not args.json:
        _print_flips(report, args.flips)
    return status


def compare_roles(n: int) -> list[str]:
    """baseline, candidate, candidate-2, ...: the first model is the reference."""
    return ["baseline", "candidate"] + [f"candidate-{i}" for i in range(2, n)]


# --------------------------------------------------------------------------- interpolate


def run_interpolate(args: argparse.Namespace) -> int:
    from harness.evaluate.compare import compare_evaluations
    from harness.evaluate.interpolation import interpolation_sweep, save_interpolated
    from harness.report.build import add_comparison, add_evaluation, interpolation_section
    from harness.settings import margin

    if not args.categories:
        raise ConfigError(
            "interpolate needs --categories (the fine-tuning categories) to tell in-category from cross-category"
        )
    alphas = _float_list(args.alphas, "--alphas")
    max_drop = margin(args.max_cross_drop, "--max-cross-drop")
    from harness.evaluate.metrics import higher_is_better

    higher_is_better(args.metric)  # an unknown metric fails before any work
    config = _config(args)
    catalogue, load_report = _load_data(args)
    (base, tuned), config = _load_models([args.baseline, args.finetuned], args, config)
    config = _unseen_by_reference([base, tuned], catalogue, config)
    overlap = _training_overlap([base, tuned], catalogue, args, config)
    sweep = interpolation_sweep(
        base,
        tuned,
        catalogue,
        train_categories=args.categories,
        alphas=alphas,
        metric=args.metric,
        max_cross_drop=max_drop,
        config=config,
    )
    report = _new_report("interpolate", catalogue, load_report, config, overlap)
    reference = sweep.points[0]
    for point in sweep.points:
        role = f"alpha={point.alpha:g}"
        add_evaluation(report, role, point.evaluation)
        if point is not reference:
            comparison = compare_evaluations(reference.evaluation, point.evaluation, config.stat_settings)
            add_comparison(report, role, comparison, reference=f"alpha={reference.alpha:g}")
    report.sections["interpolation"] = interpolation_section(sweep)
    status = _emit(report, args)
    if args.save_alpha:
        if sweep.best_alpha is None:
            print("bookclip: no alpha meets the constraint; nothing saved", file=sys.stderr)
            return 1
        save_interpolated(base, tuned, sweep.best_alpha, args.save_alpha)
        print(
            f"wrote alpha={sweep.best_alpha:g} checkpoint to {args.save_alpha}",
            file=sys.stderr if args.json else sys.stdout,
        )
    return status


# --------------------------------------------------------------------------- output


def _new_report(
    kind: Kind, catalogue: Any, load_report: Any, config: EvalConfig, overlap: list[dict[str, Any]]
) -> RunReport:
    from harness.report.build import new_report

    report = new_report(
        kind,
        settings=config.stat_settings,
        engine=config.engine,
        extra_settings={k: v for k, v in config.to_dict().items() if k not in ("resamples", "confidence", "seed")},
        data={
            "fingerprint": catalogue.fingerprint,
            "rows": len(catalogue),
            "categories": list(catalogue.categories),
            "load_report": load_report.to_dict(),
        },
    )
    if overlap:
        report.data["training_overlap"] = overlap
    return report


def _emit(report: Any, args: argparse.Namespace) -> int:
    """--json prints the report; otherwise the tables; --out writes it."""
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        from harness.report.console import print_run

        print_run(report)
    if args.out:
        report.write(Path(args.out))
        if not args.json:
            print(f"wrote {args.out}")
    log_if_wanted(report, [Path(args.out)] if args.out else [], say_on_stderr, enabled=args.mlflow)
    return 0


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr)  # so that --json keeps stdout one JSON document


def _print_flips(report: Any, n: int) -> None:
    from harness.plain_text import strip_control

    if n <= 0:
        return
    for role, lists in report.flips.items():
        for key, f in lists.items():
            if ":" in key.split("/")[0] or not (f["improved"] or f["regressed"]):
                continue
            print(
                f"{report.models[role].get('spec')} vs {report.models[report.reference].get('spec')}, {key}: "
                f"{f['improved_total']} improved, {f['regressed_total']} regressed"
            )
            for label in ("improved", "regressed"):
                for flip in f[label][:n]:
                    print(
                        f"  {label:9} rank {flip['reference_rank']:>5} -> {flip['rank']:<5} "
                        f"{strip_control(flip['title'])}"
                    )
