"""`bookclip eval`, `bookclip compare` and `bookclip interpolate`: evaluate checkpoints on a catalogue."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from harness.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "eval", help="retrieval (both directions), zero-shot category and CIs for one model",
        description="Evaluate one model on a catalogue: duplicate-aware retrieval in both directions, "
                    "zero-shot category, bootstrap CIs. Keys: <view>/<direction>/<metric>.")
    ev.add_argument("--model", required=True, metavar="SPEC",
                    help="tiny:vit-xs, fixtures:tiny-baseline, openai:ViT-B/32, open_clip:ARCH/TAG or a checkpoint")
    _common(ev)
    ev.add_argument("--out", metavar="FILE.json", help="write the evaluation (metrics + per-query ranks) here")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.set_defaults(func=run_eval)

    cmp = sub.add_parser(
        "compare", help="checkpoints side by side: deltas against the first with paired CIs and p-values",
        description="Evaluate every checkpoint on the same views and compare each to the first: paired "
                    "bootstrap CI of the delta, McNemar exact p-value on recall hits, flip lists.")
    cmp.add_argument("models", nargs="+", metavar="SPEC", help="two or more model specs; the first is the baseline")
    _common(cmp)
    cmp.add_argument("--out", metavar="FILE.json", help="write evaluations and comparisons as JSON here")
    cmp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cmp.add_argument("--flips", type=int, default=5, metavar="N", help="flipped queries to show per view (default 5)")
    cmp.set_defaults(func=run_compare)

    wise = sub.add_parser(
        "interpolate", help="WiSE-FT: metrics along (1-a)*baseline + a*fine-tuned, best a under a constraint",
        description="Evaluate weight interpolations between a baseline and a fine-tuned checkpoint on the "
                    "held-out and cross-category views; report the frontier and the best alpha whose "
                    "cross-category metric stays within --max-cross-drop of the baseline.")
    wise.add_argument("baseline", metavar="BASELINE_SPEC")
    wise.add_argument("finetuned", metavar="FINETUNED_SPEC")
    _common(wise)
    wise.add_argument("--alphas", default="0,0.25,0.5,0.75,1", help="alpha grid (default 0,0.25,0.5,0.75,1)")
    wise.add_argument("--metric", default="image_to_text/recall@5", help="<direction>/<metric> to trade off")
    wise.add_argument("--max-cross-drop", type=float, default=0.02,
                      help="largest allowed drop of the cross-category metric below alpha=0 (default 0.02)")
    wise.add_argument("--save-alpha", metavar="FILE.safetensors", help="write the best alpha's checkpoint here")
    wise.add_argument("--out", metavar="FILE.json", help="write the sweep as JSON here")
    wise.add_argument("--json", action="store_true", help="print JSON instead of a table")
    wise.set_defaults(func=run_interpolate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="PATH", nargs="+",
                   help="catalogue: a directory of <Category>/<Category>.csv, CSV files or globs")
    p.add_argument("--image-root", metavar="DIR", help="folder the CSVs' img_paths resolve under")
    p.add_argument("--categories", type=_csv_list, metavar="A,B",
                   help="training categories: gives views train, heldout, cross (default: one view 'all')")
    p.add_argument("--views", type=_csv_list, metavar="V,W", help="subset of train,heldout,cross")
    p.add_argument("--template", default="{title}",
                   help="caption template: {title}, '{title} by {author}', 'a {category} book titled {title}', "
                        "or a built-in name (title, title-by-author, category-title)")
    p.add_argument("--ks", type=_int_list, default=(1, 5, 10), metavar="1,5,10", help="recall@k cut-offs")
    p.add_argument("--pool", choices=("view", "catalogue"), default="view",
                   help="candidates: the view's items (default) or the whole catalogue")
    p.add_argument("--seed", type=int, default=0, help="drives the split and the bootstrap (default 0)")
    p.add_argument("--replay-fraction", type=float, metavar="F",
                   help="share of the other categories' books a fine-tune rehearsed, kept out of the cross view "
                        "(default: read from the checkpoints' training metadata, else 0)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--confidence", type=float, default=0.95, help="CI level (default 0.95)")
    p.add_argument("--no-zero-shot", action="store_true", help="skip zero-shot category classification")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu")


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


def _config(args: argparse.Namespace) -> Any:
    from harness.evaluate.evaluation import EvalConfig

    if args.replay_fraction is not None and not 0 <= args.replay_fraction < 1:
        raise ConfigError(f"--replay-fraction {args.replay_fraction} must lie in [0, 1)")
    return EvalConfig(template=args.template, ks=tuple(args.ks), pool=args.pool, seed=args.seed,
                      resamples=args.resamples, confidence=args.confidence, zero_shot=not args.no_zero_shot,
                      batch_size=args.batch_size)


def _load_data(args: argparse.Namespace) -> tuple[Any, Any]:
    from harness.data import load_catalogue

    sources = args.data[0] if len(args.data) == 1 else list(args.data)
    return load_catalogue(sources, image_root=args.image_root)


def _load_models(specs: Sequence[str], args: argparse.Namespace, config: Any) -> tuple[list[Any], Any]:
    """The models, and the config with the replay fraction the views must honour: --replay-fraction,
    else the largest any of the checkpoints was fine-tuned with."""
    import dataclasses

    from harness.evaluate.evaluation import replay_fraction_of
    from harness.models import load

    models = [load(spec, device=args.device) for spec in specs]
    replay = args.replay_fraction if args.replay_fraction is not None else replay_fraction_of(models)
    return models, dataclasses.replace(config, replay_fraction=replay)


def _training_overlap(models: Sequence[Any], catalogue: Any, args: argparse.Namespace,
                      config: Any) -> list[dict[str, Any]]:
    """Per model, the evaluated books it was trained on (see harness.evaluate.leakage); a warning
    on stderr for any held-out book, and for cross-category books of models after the first."""
    from harness.evaluate.evaluation import build_views
    from harness.evaluate.leakage import training_overlap

    if not args.categories:
        return []
    views = build_views(catalogue, categories=args.categories, views=args.views, seed=config.seed,
                        heldout_fraction=config.heldout_fraction, replay_fraction=config.replay_fraction)
    out = []
    for i, model in enumerate(models):
        overlap = training_overlap(model, catalogue, views)
        out.append({"model": model.spec, **overlap.to_dict()})
        for view, n in overlap.views.items():
            if n and (view == "heldout" or (view == "cross" and i > 0)):
                print(f"bookclip: warning: {model.spec} was trained on {n} of the {len(views[view])} {view} books, "
                      f"so its {view} metrics are inflated; evaluate with the categories, --seed and "
                      "--replay-fraction it was fine-tuned with", file=sys.stderr)
    return out


def _evaluate(model: Any, catalogue: Any, args: argparse.Namespace, config: Any) -> Any:
    from harness.evaluate.evaluation import evaluate

    return evaluate(model, catalogue, categories=args.categories, views=args.views, config=config)


# --------------------------------------------------------------------------- eval

def run_eval(args: argparse.Namespace) -> int:
    config = _config(args)  # template and options fail before any loading
    catalogue, report = _load_data(args)
    [model], config = _load_models([args.model], args, config)
    overlap = _training_overlap([model], catalogue, args, config)
    evaluation = _evaluate(model, catalogue, args, config)
    payload = {**evaluation.to_dict(), "load_report": report.to_dict(), "training_overlap": overlap}
    if args.out:
        _write_json(args.out, payload)
    if args.json:
        print(json.dumps(evaluation.to_dict(per_query=False), indent=2, ensure_ascii=False))
    else:
        _print_metrics_table([evaluation], [], title=f"{args.model} on {catalogue!r}")
        if args.out:
            print(f"wrote {args.out}")
    return 0


# --------------------------------------------------------------------------- compare

def run_compare(args: argparse.Namespace) -> int:
    from harness.evaluate.compare import compare_many

    if len(args.models) < 2:
        raise ConfigError("compare needs at least two model specs: BASELINE CANDIDATE [...]")
    config = _config(args)
    catalogue, report = _load_data(args)
    models, config = _load_models(args.models, args, config)
    overlap = _training_overlap(models, catalogue, args, config)
    evaluations = [_evaluate(model, catalogue, args, config) for model in models]
    comparisons = compare_many(evaluations)
    payload = {"load_report": report.to_dict(), "training_overlap": overlap,
               "evaluations": [e.to_dict() for e in evaluations],
               "comparisons": [c.to_dict() for c in comparisons]}
    if args.out:
        _write_json(args.out, payload)
    if args.json:
        print(json.dumps({"evaluations": [e.to_dict(per_query=False) for e in evaluations],
                          "comparisons": [{**c.to_dict(), "flips": _trim_flips(c, args.flips)} for c in comparisons]},
                         indent=2, ensure_ascii=False))
    else:
        _print_metrics_table(evaluations, comparisons, title=f"compare on {catalogue!r}")
        _print_flips(comparisons, args.flips)
        if args.out:
            print(f"wrote {args.out}")
    return 0


def _trim_flips(comparison: Any, n: int) -> dict[str, Any]:
    out = {}
    for key, f in comparison.flips.items():
        d = f.to_dict()
        out[key] = {"k": d["k"], "improved": d["improved"][:n], "regressed": d["regressed"][:n],
                    "improved_total": len(f.improved), "regressed_total": len(f.regressed)}
    return out


# --------------------------------------------------------------------------- interpolate

def run_interpolate(args: argparse.Namespace) -> int:
    from harness.evaluate.interpolation import interpolation_sweep, save_interpolated

    if not args.categories:
        raise ConfigError("interpolate needs --categories (the fine-tuning categories) to tell in-category "
                          "from cross-category")
    alphas = _float_list(args.alphas, "--alphas")
    config = _config(args)
    catalogue, _ = _load_data(args)
    (base, tuned), config = _load_models([args.baseline, args.finetuned], args, config)
    overlap = _training_overlap([base, tuned], catalogue, args, config)
    sweep = interpolation_sweep(base, tuned, catalogue, train_categories=args.categories, alphas=alphas,
                                metric=args.metric, max_cross_drop=args.max_cross_drop, config=config)
    if args.out:
        _write_json(args.out, {**sweep.to_dict(), "training_overlap": overlap})
    if args.json:
        print(json.dumps(sweep.to_dict(per_query=False), indent=2, ensure_ascii=False))
    else:
        _print_sweep(sweep)
    if args.save_alpha:
        if sweep.best_alpha is None:
            print("bookclip: no alpha meets the constraint; nothing saved", file=sys.stderr)
            return 1
        save_interpolated(base, tuned, sweep.best_alpha, args.save_alpha)
        print(f"wrote alpha={sweep.best_alpha:g} checkpoint to {args.save_alpha}")
    return 0


# --------------------------------------------------------------------------- output

def _write_json(path: str, payload: dict[str, Any]) -> None:
    from harness.io import atomic_write_json

    atomic_write_json(Path(path), payload)


def _fmt(value: float, metric: str) -> str:
    return f"{value:.1f}" if metric.endswith("rank") else f"{value:.3f}"


from harness.cli.plain import plain, strip_control  # noqa: E402 - user text printed as plain text (issue 13, item 9)


def _print_metrics_table(evaluations: Sequence[Any], comparisons: Sequence[Any], *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    first = evaluations[0]
    confidence = int(round(100 * float(first.settings.get("confidence", 0.95))))
    table = Table(title=plain(title), title_justify="left")
    table.add_column("metric", no_wrap=True)
    for i, e in enumerate(evaluations):
        label = e.model["spec"] + (" (baseline)" if i == 0 and comparisons else "")
        table.add_column(plain(label).append(f"\n{e.model['fingerprint'][:12]}"), justify="right")  # no markup
    for key, est in first.metrics.items():
        metric = key.rsplit("/", 1)[-1]
        cells = [f"{_fmt(est.value, metric)} [{_fmt(est.ci_low, metric)}, {_fmt(est.ci_high, metric)}]"]
        for e, c in zip(evaluations[1:], comparisons):
            d = c.deltas.get(key)
            if d is None:
                cells.append("-")
                continue
            colour = "green" if (d.delta > 0) != metric.endswith("rank") and d.delta else "red" if d.delta else ""
            delta = f"{d.delta:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}] p={d.p_value:.3g}"
            cells.append(f"{_fmt(d.candidate, metric)}  [{colour}]{delta}[/{colour}]" if colour
                         else f"{_fmt(d.candidate, metric)}  {delta}")
        table.add_row(plain(f"{key} (n={est.n})"), *cells)
    console = Console(width=max(Console().width, 140))
    console.print(table)
    note = f"values with {confidence}% bootstrap CIs"
    if comparisons:
        note += (f"; deltas vs the first column with paired {confidence}% CIs, "
                 "p = McNemar exact (recall, zero-shot) or paired bootstrap")
    console.print(note)


def _print_flips(comparisons: Sequence[Any], n: int) -> None:
    if n <= 0:
        return
    for c in comparisons:
        for key, f in c.flips.items():
            if ":" in key.split("/")[0] or not (f.improved or f.regressed):
                continue
            print(f"{c.candidate['spec']} vs {c.baseline['spec']}, {key} at k={f.k}: "
                  f"{len(f.improved)} improved, {len(f.regressed)} regressed")
            for label, items in (("improved", f.improved), ("regressed", f.regressed)):
                for flip in items[:n]:
                    print(f"  {label:9} rank {flip.rank_a:>5} -> {flip.rank_b:<5} {strip_control(flip.title)}")


def _print_sweep(sweep: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"WiSE-FT sweep: {sweep.metric}", title_justify="left")
    for column in ("alpha", "in-category", "cross-category", "frontier", "meets constraint"):
        table.add_column(column, justify="right")
    for p in sweep.points:
        table.add_row(f"{p.alpha:g}", f"{p.in_category.value:.3f} [{p.in_category.ci_low:.3f}, "
                      f"{p.in_category.ci_high:.3f}]",
                      f"{p.cross_category.value:.3f} [{p.cross_category.ci_low:.3f}, {p.cross_category.ci_high:.3f}]",
                      "yes" if p.alpha in sweep.frontier else "", "yes" if p.feasible else "no")
    Console(width=max(Console().width, 110)).print(table)
    best = "none" if sweep.best_alpha is None else f"{sweep.best_alpha:g}"
    print(f"best alpha under '{sweep.constraint}': {best}")
