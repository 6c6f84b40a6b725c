"""The report's charts with confidence intervals, and the collapsed tables of every number.

Every bar and curve point that has an estimate in the report is drawn with its CI (the report's
numbers, never recomputed); the recall@k curve itself is the registered recall@K at many k,
from the per-query ranks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.evaluate.metrics import arrow
from harness.report import plots
from harness.report.console import fmt, fmt_ci
from harness.report.html_blocks import (
    Block,
    NoData,
    cell,
    details,
    group,
    image,
    is_number,
    note,
    roles_with_metrics,
    table,
)
from harness.report.html_matrix import view_order
from harness.report.model import RunReport

_RECALL_KS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
_MAIN_VIEWS = ("train", "heldout", "cross", "all")


def recall_curve(ranks: np.ndarray | list[int], ks: np.ndarray | list[int]) -> np.ndarray:
    """Recall@k for every k in `ks`, from 1-based ranks (the registered recall@K, for many k at once)."""
    ranks = np.sort(np.asarray(ranks, dtype=np.float64))
    if ranks.size == 0:
        return np.full(len(ks), np.nan)
    return np.searchsorted(ranks, np.asarray(ks, dtype=np.float64), side="right") / ranks.size


def _ordered_roles(roles: dict[str, Any], report: RunReport) -> dict[str, Any]:
    order = {r: i for i, r in enumerate([report.reference or "", *report.roles])}
    return dict(sorted(roles.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))


def per_query_ranks(report: RunReport) -> dict[str, dict[str, np.ndarray]]:
    """Ranks of the whole views (train, heldout, cross); per-category views are in 'Per category'."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for view, entry in sorted(report.per_query.items(), key=lambda kv: view_order(kv[0])):
        if ":" in view.split("/", 1)[0]:
            continue
        ranks = (entry or {}).get("ranks") or {}
        roles = {role: np.asarray(values, dtype=float) for role, values in ranks.items() if values is not None}
        roles = {r: v for r, v in roles.items() if v.ndim == 1 and v.size and np.all(np.isfinite(v))}
        if roles:
            out[view] = _ordered_roles(roles, report)
    return out


def _recall_estimates(report: RunReport) -> dict[str, dict[str, list[tuple[int, Any]]]]:
    """view/direction -> role -> [(k, Estimate)] of the stored recall@K metrics of the main views."""
    out: dict[str, dict[str, list[tuple[int, Any]]]] = {}
    for role in roles_with_metrics(report):
        for key, est in report.metrics[role].items():
            view, _, name = key.rpartition("/")
            if (
                name.startswith("recall@")
                and name[7:].isdigit()
                and view.count("/") == 1
                and view.split("/")[0] in _MAIN_VIEWS
                and view.split("/")[1] != "zero_shot"
                and is_number(est.value)
            ):
                out.setdefault(view, {}).setdefault(role, []).append((int(name[7:]), est))
    return {v: {r: sorted(pts, key=lambda p: p[0]) for r, pts in roles.items()} for v, roles in out.items()}


def recall_blocks(report: RunReport) -> list[Block]:
    ranks = per_query_ranks(report)
    stored = _recall_estimates(report)
    curves: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    if ranks:
        for view, roles in ranks.items():
            top = max(float(v.max()) for v in roles.values())
            ks = [k for k in _RECALL_KS if k <= max(top, 10)]
            curves[view] = {role: (ks, recall_curve(v, ks).tolist()) for role, v in roles.items()}
        text = "Curves from the per-query ranks; the error bars are the stored recall@K estimates with their CIs."
    else:
        for view, estimates_by_role in stored.items():
            curves[view] = {
                role: ([k for k, _ in pts], [e.value for _, e in pts]) for role, pts in estimates_by_role.items()
            }
        text = "From the stored recall@k metrics (no per-query ranks in this run), with their CIs."
    if not curves:
        raise NoData("No per-query ranks or recall@k metrics in this run.")
    errors = {
        view: {
            role: (
                [k for k, _ in pts],
                [e.value for _, e in pts],
                [e.ci_low for _, e in pts],
                [e.ci_high for _, e in pts],
            )
            for role, pts in roles.items()
        }
        for view, roles in stored.items()
    }
    curves = dict(sorted(curves.items(), key=lambda kv: view_order(kv[0])))
    return [image(plots.recall_curves(curves, errors), "recall@k curves"), note(text)]


def _estimate_bars(report: RunReport, pick: Any) -> tuple[dict, dict]:
    """groups (row -> role -> value) and errors (row -> role -> (low, high)) for keys `pick` names."""
    groups: dict[str, dict[str, float]] = {}
    errors: dict[str, dict[str, tuple[float, float]]] = {}
    for role in roles_with_metrics(report):
        for key, est in report.metrics[role].items():
            row = pick(key)
            if row is None or not is_number(est.value):
                continue
            groups.setdefault(row, {})[role] = float(est.value)
            if is_number(est.ci_low) and is_number(est.ci_high):
                errors.setdefault(row, {})[role] = (float(est.ci_low), float(est.ci_high))
    return groups, errors


def category_blocks(report: RunReport) -> list[Block]:
    tuned = "+".join(report.data.get("categories") or []) or "tuned"
    images = []
    for direction in ("image_to_text", "text_to_image"):

        def pick(key: str, direction: str = direction) -> str | None:
            view, _, rest = key.partition("/")
            if rest != f"{direction}/recall@5":
                return None
            if view == "heldout":
                return f"{tuned} (tuned, held out)"
            return view.split(":", 1)[1] if view.startswith("cross:") else None

        groups, errors = _estimate_bars(report, pick)
        if len(groups) > 1:
            bars = plots.grouped_bars(
                groups, errors=errors, xlim=(0, 1), title=f"{direction} recall@5", xlabel="recall@5 (higher is better)"
            )
            images.append(image(bars, f"{direction} recall@5 per category"))
    if images:
        return [
            group(images),
            note(
                "Held-out books of the tuned categories, then each other category; bars are "
                "the estimates, whiskers their CIs."
            ),
        ]
    cats = report.sections.get("categories")
    if not isinstance(cats, dict) or not cats:
        raise NoData("No per-category results in this run.")
    groups = {
        str(c): {
            str(r): float(v["recall@5"])
            for r, v in roles.items()
            if isinstance(v, dict) and is_number(v.get("recall@5"))
        }
        for c, roles in cats.items()
        if isinstance(roles, dict)
    }
    groups = {c: v for c, v in groups.items() if v}
    if not groups:
        raise NoData("Per-category results hold no recall@5.")
    return [
        image(
            plots.grouped_bars(groups, xlim=(0, 1), title="recall@5 per category", xlabel="recall@5"),
            "recall@5 per category",
        ),
        note("This run recorded per-category values without CIs."),
    ]


def zero_shot_blocks(report: RunReport) -> list[Block]:
    def pick(key: str) -> str | None:
        parts = key.split("/")
        return parts[0] if len(parts) == 3 and parts[1] == "zero_shot" and parts[2] == "accuracy" else None

    groups, errors = _estimate_bars(report, pick)
    if not groups:
        raise NoData("No zero-shot results in this run.")
    groups = dict(sorted(groups.items(), key=lambda kv: view_order(kv[0])))
    return [
        image(
            plots.grouped_bars(
                groups,
                errors=errors,
                xlim=(0, 1),
                title="zero-shot category accuracy",
                xlabel="accuracy (higher is better)",
            ),
            "zero-shot accuracy",
        ),
        note("Every view on one scale, with CIs; per-category recall is in the details below."),
    ]


def interpolation_blocks(report: RunReport) -> list[Block]:
    data = report.sections.get("interpolation")
    if not isinstance(data, dict) or not data.get("alphas"):
        raise NoData("No interpolation sweep in this run.")
    alphas = [float(a) for a in data["alphas"]]

    def series(name: str) -> dict[str, list[float]]:
        raw = data.get(name) or {}
        return {
            str(m): [float(v) if is_number(v) else float("nan") for v in values]
            for m, values in raw.items()
            if isinstance(values, list) and len(values) == len(alphas)
        }

    best = float(data["best_alpha"]) if is_number(data.get("best_alpha")) else None
    inside, cross = series("in_category"), series("cross_category")
    if not inside and not cross:
        raise NoData("The interpolation sweep holds no metric series as long as its alphas.")
    text = (
        f"Best alpha {best:g}." if best is not None else "No best alpha recorded."
    ) + " Alpha 0 is the baseline's weights, 1 the fine-tuned weights."
    return [image(plots.interpolation_frontier(alphas, inside, cross, best), "interpolation frontier"), note(text)]


# -- details ----------------------------------------------------------------------------------------


def _group_of(key: str) -> str:
    head, _, rest = key.partition("/")
    if head in ("probes", "interpolation"):
        return head
    return "zero-shot" if rest.startswith("zero_shot") else "retrieval"


def metric_tables(report: RunReport) -> list[Block]:
    roles = roles_with_metrics(report)
    compared = report.compared_roles
    keys = sorted(
        {k for values in report.metrics.values() for k in values}
        | {k for values in report.comparisons.values() for k in values},
        key=lambda k: (view_order(k), k),
    )
    grouped: dict[str, list[str]] = {}
    for key in keys:
        grouped.setdefault(_group_of(key), []).append(key)
    heads = [f"delta {r} [CI]" if len(compared) > 1 else "delta [CI]" for r in compared]
    headers = ["metric", *roles, *[h for pair in zip(heads, ["p"] * len(heads), strict=True) for h in pair]]
    blocks = []
    for name in ("retrieval", "zero-shot", "probes", "interpolation"):
        rows = [_metric_row(report, key, roles, compared) for key in grouped.get(name, [])]
        if rows:
            blocks.append(details(f"{name} metrics ({len(rows)})", [table(headers, rows, num_from=1)]))
    return blocks


def _metric_row(report: RunReport, key: str, roles: list[str], compared: list[str]) -> list[dict[str, str]]:
    row = [cell(f"{key} {arrow(key)}".strip(), "key")]
    for role in roles:
        m = report.metrics[role].get(key)
        row.append(
            cell(f"{fmt(m.value)} {fmt_ci(m.ci_low, m.ci_high, False)}", title=f"{m.interval} interval, n={m.n}")
            if m
            else cell("-")
        )
    for role in compared:
        c = report.comparison(key, role)
        if c is None:
            row += [cell(""), cell("")]
            continue
        basis = "point estimates only: no paired CI" if c.test == "point" else f"{c.test} test, paired over n={c.n}"
        row.append(cell(f"{fmt(c.delta, True)} {fmt_ci(c.ci_low, c.ci_high)}", c.significant, title=basis))
        row.append(cell(f"{c.p_value:.3g} ({c.test})" if is_number(c.p_value) else c.test, title=basis))
    return row


def _flat_rows(data: Any, limit: int = 80) -> list[list[str]]:
    rows: list[list[str]] = []

    def walk(node: Any, path: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}/{k}" if path else str(k))
        elif isinstance(node, (list, tuple)) and node and all(isinstance(x, dict) for x in node):
            for i, v in enumerate(node[:20]):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, (list, tuple)):
            shown = ", ".join(fmt(x) if isinstance(x, float) else str(x) for x in node[:8])
            rows.append([path, shown + (f", ... ({len(node)} in all)" if len(node) > 8 else "")])
        else:
            rows.append([path, fmt(node) if isinstance(node, float) else str(node)])

    walk(data, "")
    return rows


def detail_blocks(report: RunReport) -> list[Block]:
    reference = report.reference or "the reference"
    blocks = metric_tables(report)
    if blocks:
        blocks.append(
            note(
                f"↑ higher is better, ↓ lower is better; delta is a model minus {reference} on the same "
                "queries, coloured when its CI excludes zero; hover a value for its interval method."
            )
        )
    ranks = per_query_ranks(report)
    if ranks:
        blocks.append(
            details("Rank of the correct title (histograms)", [image(plots.rank_histograms(ranks), "rank histograms")])
        )
    for name in ("probes", "zero_shot", "finetune"):
        if report.sections.get(name):
            rows = [[cell(k, "key"), cell(v)] for k, v in _flat_rows(report.sections[name])]
            blocks.append(details(f"{name.replace('_', '-')} details", [table(["field", "value"], rows)]))
    rows = [
        [cell(k, "key"), cell(v)]
        for k, v in _flat_rows({"data": report.data, "models": report.models, "environment": report.environment})
    ]
    if rows:
        blocks.append(details("Data and environment", [table(["field", "value"], rows)]))
    if not blocks:
        raise NoData("No metrics, data or environment information in this run.")
    return blocks
