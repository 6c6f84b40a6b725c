"""Assemble run reports: the one result format every command writes.

Each command fills a RunReport through these functions, so an evaluation, a comparison, a probe
run or a sweep lands in the same fields whichever command produced it:

    report = new_report("compare", settings=..., data=...)
    add_evaluation(report, "baseline", evaluation)
    add_evaluation(report, "candidate", other)
    add_comparison(report, "candidate", compare_evaluations(evaluation, other))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.evaluate.compare import Comparison, Difference
from harness.evaluate.results import Evaluation
from harness.evaluate.stats import Estimate
from harness.models.record import model_record
from harness.report.model import Kind, RunReport, environment_info
from harness.settings import StatSettings


def new_report(
    kind: Kind,
    *,
    settings: StatSettings,
    data: Mapping[str, Any] | None = None,
    name: str = "",
    extra_settings: Mapping[str, Any] | None = None,
    engine: str = "local",
) -> RunReport:
    """An empty report of `kind`, with the statistics settings every number in it used."""
    return RunReport(
        kind=kind,
        name=name or kind,
        seed=settings.seed,
        engine=engine,
        settings={
            "resamples": settings.resamples,
            "confidence": settings.confidence,
            "seed": settings.seed,
            **dict(extra_settings or {}),
        },
        data=dict(data or {}),
        environment=environment_info(),
    )


def add_model(report: RunReport, role: str, model: Mapping[str, Any]) -> None:
    """A role's model; what is recorded first wins (the spec a user gave over a resolved path)."""
    report.models[role] = {**dict(model), **report.models.get(role, {})}


def add_metrics(report: RunReport, role: str, metrics: Mapping[str, Estimate]) -> None:
    """Metrics of a role; a key already recorded keeps its first value (one number per key)."""
    values = report.metrics.setdefault(role, {})
    for key, est in metrics.items():
        values.setdefault(key, est)


def add_evaluation(report: RunReport, role: str, evaluation: Evaluation) -> None:
    """A role's model, metrics and per-query ranks (zero-shot details go to its section)."""
    add_model(report, role, evaluation.model)
    add_metrics(report, role, evaluation.metrics)
    report.data.setdefault("view_sizes", dict(evaluation.data.get("views", {})))
    if evaluation.data.get("engine"):  # where embeddings, ranks and zero-shot ran (the first role's engine)
        report.sections.setdefault("engine", evaluation.data["engine"])
    if evaluation.data.get("truncated_captions"):
        report.data.setdefault("truncated_captions", {})[role] = evaluation.data["truncated_captions"]
    for prefix, ranking in evaluation.rankings.items():
        entry = report.per_query.setdefault(
            prefix, {"item_ids": list(ranking.book_ids), "titles": list(ranking.titles), "ranks": {}}
        )
        entry["ranks"][role] = [int(x) for x in ranking.ranks]
    if evaluation.zero_shot:
        section = report.sections.setdefault("zero_shot", {})
        for view, result in evaluation.zero_shot.items():
            section.setdefault(view, {"categories": list(result.categories), "prompt": result.prompt, "confusion": {}})[
                "confusion"
            ][role] = result.confusion.tolist()


def add_difference(report: RunReport, role: str, difference: Difference, *, reference: str) -> None:
    _set_reference(report, reference)
    report.comparisons.setdefault(role, {}).setdefault(difference.key, difference)


def add_comparison(
    report: RunReport, role: str, comparison: Comparison, *, reference: str, flips_shown: int | None = None
) -> None:
    """A role against the reference: every difference, and the queries that flipped."""
    for difference in comparison.differences.values():
        add_difference(report, role, difference, reference=reference)
    for prefix, f in comparison.flips.items():
        report.flips.setdefault(role, {})[f"{prefix}/recall@{f.k}"] = {
            "improved": [_flip(x) for x in f.improved[:flips_shown]],
            "regressed": [_flip(x) for x in f.regressed[:flips_shown]],
            "improved_total": len(f.improved),
            "regressed_total": len(f.regressed),
        }


def add_probes(report: RunReport, role: str, probe_report: Any) -> None:
    """A role's probe metrics, and the probe run's details as a section."""
    add_model(report, role, probe_report.model_record)
    add_metrics(report, role, probe_report.metrics)
    report.sections.setdefault("probes", {})[role] = probe_report.to_dict()


def _set_reference(report: RunReport, reference: str) -> None:
    if report.reference not in (None, reference):
        raise ValueError(f"a report compares against one reference role ({report.reference!r}), not {reference!r}")
    report.reference = reference


def _flip(f: Any) -> dict[str, Any]:
    return {"book_id": f.book_id, "title": f.title, "reference_rank": f.rank_a, "rank": f.rank_b}


# --------------------------------------------------------------------------- the suites' run


def suites_report(workspace: Any, source: Any, gates: list[Any], *, name: str = "run") -> RunReport:
    """The run report of `pytest suites/`: everything the workspace loaded and the metric source
    computed, the judged gates, and for two evaluated models their comparison and example books."""
    from harness.evaluate.compare import compare_evaluations
    from harness.report.examples import example_books

    ws = workspace
    cfg = ws.config
    report = new_report(
        "suites",
        settings=ws.stat_settings,
        name=name,
        engine=cfg.engine,
        extra_settings={"ks": list(cfg.ks), "template": cfg.template, "heldout_fraction": cfg.heldout_fraction},
    )
    report.environment = environment_info(ws.rootdir)
    if ws.loaded:
        report.data = {
            "sources": ws.data_sources,
            "fingerprint": ws.catalogue.fingerprint,
            "load_report": ws.load_report.to_dict(),
            "categories": list(cfg.categories),
        }
        if "splits" in ws.__dict__:
            report.data["view_sizes"] = {v: len(getattr(ws.splits, v)) for v in ("train", "heldout", "cross")}
            report.data["withheld"] = ws.splits.withheld
            if ws.training_overlap:
                report.data["training_overlap"] = dict(ws.training_overlap)
            if ws.splits.replay is not None:  # rehearsed by the fine-tune, so not in cross
                report.data["replay"] = {"fraction": ws.replay_fraction, "rows": ws.splits.replay_rows}
    for role, model in ws.loaded_models().items():
        add_model(report, role, {**model_record(model), "spec": ws.spec(role)})
    if ws.finetune_record:
        report.sections["finetune"] = dict(ws.finetune_record)
    for role, values in source.estimates.items():  # what the gates were judged on comes first
        add_metrics(report, role, values)
    for difference in source.differences.values():
        add_difference(report, "candidate", difference, reference="baseline")
    for role, evaluation in source.evaluations.items():
        add_evaluation(report, role, evaluation)
    for role, probe_report in source.probe_reports.items():
        add_probes(report, role, probe_report)
    if source.has_interpolation:
        report.sections["interpolation"] = interpolation_section(source.interpolation)
    categories = _per_category(source.evaluations, cfg.categories)
    if categories:
        report.sections["categories"] = categories
    evaluations = source.evaluations
    if all(role in evaluations for role in ("baseline", "candidate")):
        # the regression suite's report and the final one compare the same two evaluations (objects that
        # hash by identity): the comparison and the Slices section, from their ranks alone, are derived once
        derived = getattr(source, "derived", {})
        key = (evaluations["baseline"], evaluations["candidate"], ws.stat_settings, cfg.slice_level, ws.catalogue)
        if key not in derived:
            derived.clear()
            derived[key] = {
                "comparison": compare_evaluations(evaluations["baseline"], evaluations["candidate"], ws.stat_settings)
            }
        parts = derived[key]
        add_comparison(report, "candidate", parts["comparison"], reference="baseline")
        views = {name: getattr(ws.splits, name) for name in ("heldout", "cross") if getattr(ws.splits, name, None)}
        report.sections["examples"] = example_books(
            evaluations, ws.loaded_models(), ws.catalogue, views, template=cfg.template
        )
        from harness.report.slices import SECTION, add_slices

        if "slices" not in parts:
            add_slices(report, ws.catalogue, level=cfg.slice_level)
            parts["slices"] = report.sections.get(SECTION)
        elif parts["slices"] is not None:
            report.sections[SECTION] = parts["slices"]
    report.gates = list(gates)
    return report


def interpolation_section(sweep: Any) -> dict[str, Any]:
    in_key, cross_key = f"{sweep.in_view}/{sweep.metric}", f"{sweep.cross_view}/{sweep.metric}"
    return {
        "metric": sweep.metric,
        "alphas": [p.alpha for p in sweep.points],
        "in_category": {in_key: [p.in_category.value for p in sweep.points]},
        "cross_category": {cross_key: [p.cross_category.value for p in sweep.points]},
        "feasible": [p.feasible for p in sweep.points],
        "max_cross_drop": sweep.max_cross_drop,
        "frontier": list(sweep.frontier),
        "best_alpha": sweep.best_alpha,
        "constraint": sweep.constraint,
    }


def _per_category(evaluations: Mapping[str, Evaluation], tuned: Any) -> dict[str, dict[str, dict[str, float]]]:
    """category -> role -> image-to-text metric: the tuned categories' held-out books and each other
    category (cross:<Category>)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    label = "+".join(tuned) + " (tuned, held out)"
    for role, evaluation in evaluations.items():
        for key, est in evaluation.metrics.items():
            view, direction, metric = key.split("/")
            if direction != "image_to_text" or not (view == "heldout" or view.startswith("cross:")):
                continue
            name = label if view == "heldout" else view.split(":", 1)[1]
            out.setdefault(name, {}).setdefault(role, {})[metric] = est.value
    return out
