"""The HTML report: one self-contained file that opens from disk with no network.

Inline CSS, no script, plots as inline SVG images (matplotlib), covers as small inline
JPEG thumbnails. A Content-Security-Policy forbids anything but inline styles and data:
images. Every string from the run (titles, authors, names, messages) is HTML-escaped.
A section without data is replaced by a one-line note; a malformed section says so
instead of breaking the page.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.io import atomic_write_text
from harness.report import plots
from harness.evaluate.metrics import arrow, higher_is_better, knows_direction
from harness.report.console import fmt, fmt_ci
from harness.report.html_base import _CSP, _CSS, _e, _img, _is_number, _NoData, _roles, _safely, _table, _td
from harness.report.html_books import _examples, _flips
from harness.report.model import RunReport

_RECALL_KS = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)


def write_html(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write the report's HTML page to `path` (atomically) and return the path."""
    path = Path(path)
    atomic_write_text(path, render_html(report))
    return path


def recall_curve(ranks: np.ndarray | list[int], ks: np.ndarray | list[int]) -> np.ndarray:
    """Recall@k for every k in `ks`, from 1-based ranks (the registered recall@K, for many k at once)."""
    ranks = np.sort(np.asarray(ranks, dtype=np.float64))
    if ranks.size == 0:
        return np.full(len(ks), np.nan)
    return np.searchsorted(ranks, np.asarray(ks, dtype=np.float64), side="right") / ranks.size


def render_html(report: RunReport) -> str:
    """The whole page as a string."""
    title = f"bookclip {report.kind} {report.name or report.run_id}"
    sections = [
        ("summary", "Summary", _summary),
        ("metrics", "Metrics", _metrics),
        ("recall", "Recall@k: baseline against candidate", _recall_curves),
        ("ranks", "Rank of the correct title", _rank_histograms),
        ("categories", "Per category", _categories),
        ("zero-shot", "Zero-shot category", _zero_shot),
        ("probes", "Probe families", _probes),
        ("interpolation", "Interpolation frontier", _interpolation),
        ("examples", "Books that matter: worst regressions and best improvements", _examples),
        ("flips", "Flips", _flips),
        ("data", "Data and environment", _environment),
    ]
    body = [_header(report)]
    for anchor, heading, render in sections:
        body.append(f'<section id="{anchor}"><h2>{_e(heading)}</h2>{_safely(render, report)}</section>')
    body.append(f"<footer>bookclip report schema v{report.schema_version} &middot; run {_e(report.run_id)}</footer>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n"
        + "\n".join(body) + "\n</main></body></html>\n")


# -- sections ------------------------------------------------------------------------------------

def _header(report: RunReport) -> str:
    git = (report.environment or {}).get("git") or {}
    commit = git.get("commit")
    models = " &middot; ".join(
        f'<span class="role-{_e(role)}">{_e(role)}</span> <code>{_e((m or {}).get("spec", "?"))}</code>'
        f' <span class="meta">{_e(str((m or {}).get("fingerprint", ""))[:12])}</span>'
        for role, m in report.models.items()) or "no models recorded"
    parts = [f"run <code>{_e(report.run_id)}</code>", _e(report.created_at)]
    if commit:
        parts.append(f"commit <code>{_e(str(commit)[:10])}</code>{' (dirty)' if git.get('dirty') else ''}")
    if report.data.get("fingerprint"):
        parts.append(f"data <code>{_e(str(report.data['fingerprint'])[:12])}</code>")
    parts.append(f"seed {_e(report.seed)}")
    return (f"<header><h1>{_e(f'bookclip {report.kind}: {report.name}' if report.name else f'bookclip {report.kind}')}</h1>"
            f'<div class="meta">{" &middot; ".join(parts)}</div><div class="meta">{models}</div></header>')


def _summary(report: RunReport) -> str:
    counts: dict[str, int] = {}
    for gate in report.gates:
        counts[gate.outcome] = counts.get(gate.outcome, 0) + 1
    failed = any(g.outcome == "FAIL" and g.tier != "warn" for g in report.gates)
    if not report.gates:
        verdict, label = "", "no gates in this run"
    elif failed:
        verdict, label = "FAIL", "gates failed"
    elif counts.get("WARN") or counts.get("UNDECIDED"):
        verdict, label = "WARN", "gates passed, with warnings"
    else:
        verdict, label = "PASS", "all gates passed"
    pills = [f'<span class="pill verdict {verdict}">{_e(label)}</span>']
    pills += [f'<span class="pill {_e(o)}">{_e(o)} {n}</span>' for o, n in sorted(counts.items())]
    sizes = report.data.get("view_sizes") or report.data.get("sizes")
    extra = ""
    if isinstance(sizes, dict) and sizes:
        extra = '<p class="meta">views: ' + ", ".join(f"{_e(k)} {_e(v)}" for k, v in sizes.items()) + "</p>"
    if not report.gates:
        return f'<div class="pills">{"".join(pills)}</div>{extra}'
    order = {"FAIL": 0, "UNDECIDED": 1, "WARN": 2, "PASS": 3}
    rows = [[_td(g.name), _td(g.metric, "key"), _td(g.rule), _td(g.tier),
             f'<td class="{_e(g.outcome)}"><b>{_e(g.outcome)}</b></td>', _td(g.message)]
            for g in sorted(report.gates, key=lambda g: (order.get(g.outcome, 9), g.name))]
    return (f'<div class="pills">{"".join(pills)}</div>{extra}'
            + _table(["gate", "metric", "rule", "tier", "outcome", "why"], rows))


def _metrics(report: RunReport) -> str:
    roles = _roles(report)
    compared = report.compared_roles
    keys = sorted({k for values in report.metrics.values() for k in values}
                  | {k for values in report.comparisons.values() for k in values}, key=_view_order)
    if not keys:
        raise _NoData("No metrics in this run.")
    rows = []
    for key in keys:
        row = [_td(f"{key} {arrow(key)}".strip(), "key")]
        for role in roles:
            m = report.metrics[role].get(key)
            row.append(_td(f"{fmt(m.value)} {fmt_ci(m.ci_low, m.ci_high, False)}" if m else "-", "num"))
        for role in compared:
            c = report.comparison(key, role)
            if c is None:
                row += [_td("", "num"), _td("", "num")]
                continue
            cls = c.significant
            row.append(_td(f"{fmt(c.delta, True)} {fmt_ci(c.ci_low, c.ci_high)}", f"num {cls}".strip()))
            row.append(_td(f"{c.p_value:.3g} ({c.test})" if _is_number(c.p_value) else "", "num"))
        rows.append(row)
    reference = report.reference or "the reference"
    heads = [f"delta {r} [CI]" if len(compared) > 1 else "delta [CI]" for r in compared]
    return (_table(["metric", *roles, *[h for pair in zip(heads, ["p"] * len(heads)) for h in pair]], rows, num_from=1)
            + f'<p class="note">↑ higher is better, ↓ lower is better; delta is a model minus {_e(reference)} on the '
              "same queries, coloured when its CI excludes zero; p is from the test named beside it.</p>")


def _view_order(key: str) -> tuple[int, str]:
    """train, heldout, cross first (in that order), then anything else by name."""
    order = {"train": 0, "heldout": 1, "cross": 2}
    return order.get(key.split("/", 1)[0], 3), key


def _per_query_ranks(report: RunReport) -> dict[str, dict[str, np.ndarray]]:
    """Ranks of the whole views (train, heldout, cross, ...); per-category views (`cross:<Category>`)
    have their own section, and a panel each here would bury the overview."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for view, entry in sorted(report.per_query.items(), key=lambda kv: _view_order(kv[0])):
        if ":" in view.split("/", 1)[0]:
            continue
        ranks = (entry or {}).get("ranks") or {}
        roles = {role: np.asarray(values, dtype=float) for role, values in ranks.items() if values is not None}
        roles = {r: v for r, v in roles.items() if v.ndim == 1 and v.size and np.all(np.isfinite(v))}
        if roles:
            out[view] = dict(sorted(roles.items(), key=lambda kv: (kv[0] != "baseline", kv[0])))
    return out


def _recall_curves(report: RunReport) -> str:
    ranks = _per_query_ranks(report)
    if ranks:
        curves = {}
        for view, roles in ranks.items():
            top = max(float(v.max()) for v in roles.values())
            ks = [k for k in _RECALL_KS if k <= max(top, 10)]
            curves[view] = {role: (ks, recall_curve(v, ks).tolist()) for role, v in roles.items()}
        note = "From the per-query ranks: recall@k is the share of queries whose correct title ranks k or better."
    else:
        curves = _recall_points_from_metrics(report)
        if not curves:
            raise _NoData("No per-query ranks or recall@k metrics in this run.")
        note = "From the stored recall@k metrics (no per-query ranks in this run)."
    return _img(plots.recall_curves(curves), "recall@k curves") + f'<p class="note">{_e(note)}</p>'


def _recall_points_from_metrics(report: RunReport) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    curves: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for role in _roles(report):
        points: dict[str, list[tuple[int, float]]] = {}
        for key, m in report.metrics[role].items():
            view, _, name = key.rpartition("/")
            if name.startswith("recall@") and name[7:].isdigit() and _is_number(m.value) and view.count("/") == 1:
                points.setdefault(view, []).append((int(name[7:]), float(m.value)))
        for view, pts in points.items():
            pts.sort()
            curves.setdefault(view, {})[role] = ([k for k, _ in pts], [v for _, v in pts])
    return dict(sorted(curves.items(), key=lambda kv: _view_order(kv[0])))


def _rank_histograms(report: RunReport) -> str:
    ranks = _per_query_ranks(report)
    if not ranks:
        raise _NoData("No per-query ranks in this run.")
    medians = "; ".join(f"{view}: " + ", ".join(f"{role} {np.median(v):g}" for role, v in roles.items())
                        for view, roles in ranks.items())
    return (_img(plots.rank_histograms(ranks), "rank histograms")
            + f'<p class="note">Median rank &mdash; {_e(medians)}.</p>')


def _categories(report: RunReport) -> str:
    cats = report.sections.get("categories")
    if not isinstance(cats, dict) or not cats:
        raise _NoData("No per-category results in this run.")
    metrics = list(dict.fromkeys(m for roles in cats.values() if isinstance(roles, dict)
                                 for values in roles.values() if isinstance(values, dict)
                                 for m, v in values.items() if _is_number(v)))
    preferred = sorted(metrics, key=lambda m: (not m.startswith("recall@5"), not m.startswith("recall"), m))[:2]
    if not preferred:
        raise _NoData("Per-category results hold no numbers.")
    parts = []
    for metric in preferred:
        groups = {str(cat): {str(role): float(values[metric]) for role, values in roles.items()
                             if isinstance(values, dict) and _is_number(values.get(metric))}
                  for cat, roles in cats.items() if isinstance(roles, dict)}
        parts.append(_img(plots.grouped_bars(groups, title=f"{metric} per category", xlabel=metric),
                          f"{metric} per category"))
    return f'<div class="plots">{"".join(parts)}</div>'



def _family_metrics(report: RunReport, prefix: str) -> dict[str, dict[str, dict[str, float]]]:
    """metric name -> group -> role -> value for keys `<prefix>/<group>/<metric>`
    (or `<group>/<prefix>/<metric>`, as zero-shot keys read `heldout/zero_shot/accuracy`)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for role in _roles(report):
        for key, m in report.metrics[role].items():
            parts = key.split("/")
            if len(parts) != 3 or not _is_number(m.value) or prefix not in parts[:2]:
                continue
            group = parts[1] if parts[0] == prefix else parts[0]
            out.setdefault(parts[2], {}).setdefault(group, {})[role] = float(m.value)
    return out


def _flat_rows(data: Any, prefix: str = "", limit: int = 60) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}/{k}" if path else str(k))
        elif isinstance(node, (list, tuple)) and node and all(isinstance(x, dict) for x in node):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, (list, tuple)):
            shown = ", ".join(fmt(x) if isinstance(x, float) else str(x) for x in node[:8])
            rows.append((path, shown + (f", ... ({len(node)} in all)" if len(node) > 8 else "")))
        elif isinstance(node, float) and _is_number(node):
            rows.append((path, fmt(node)))
        else:
            rows.append((path, str(node)))

    walk(data, prefix)
    return rows


def _metric_family_section(report: RunReport, prefix: str, section: str, what: str) -> str:
    families = _family_metrics(report, prefix)
    extra = report.sections.get(section)
    if not families and not extra:
        raise _NoData(f"No {what} results in this run.")
    images = []
    for metric, groups in sorted(families.items()):
        better = ("higher is better" if higher_is_better(metric) else "lower is better") if knows_direction(metric) else ""
        images.append(_img(plots.grouped_bars(groups, title=f"{what}: {metric}", xlabel=f"{metric} ({better})"
                                              if better else metric), f"{what} {metric}"))
    parts = [f'<div class="plots">{"".join(images)}</div>'] if images else []
    if extra:
        rows = [[_td(k, "key"), _td(v)] for k, v in _flat_rows(extra)]
        parts.append(f"<details><summary>{_e(what)} details</summary>{_table(['field', 'value'], rows)}</details>")
    return "".join(parts)


def _zero_shot(report: RunReport) -> str:
    return _metric_family_section(report, "zero_shot", "zero_shot", "zero-shot")


def _probes(report: RunReport) -> str:
    return _metric_family_section(report, "probes", "probes", "probe")


def _interpolation(report: RunReport) -> str:
    data = report.sections.get("interpolation")
    if not isinstance(data, dict) or not data.get("alphas"):
        raise _NoData("No interpolation sweep in this run.")
    alphas = [float(a) for a in data["alphas"]]

    def series(name: str) -> dict[str, list[float]]:
        raw = data.get(name) or {}
        return {str(m): [float(v) if _is_number(v) else float("nan") for v in values]
                for m, values in raw.items() if isinstance(values, list) and len(values) == len(alphas)}

    best = data.get("best_alpha")
    best = float(best) if _is_number(best) else None
    inside, cross = series("in_category"), series("cross_category")
    if not inside and not cross:
        raise _NoData("The interpolation sweep holds no metric series as long as its alphas.")
    uri = plots.interpolation_frontier(alphas, inside, cross, best)
    note = f"Best alpha {best:g}." if best is not None else "No best alpha recorded."
    return _img(uri, "interpolation frontier") + f'<p class="note">{_e(note)} Alpha 0 is the baseline\'s weights, 1 the fine-tuned weights.</p>'


def _environment(report: RunReport) -> str:
    rows = [[_td(k, "key"), _td(v)] for k, v in _flat_rows({"data": report.data, "models": report.models,
                                                            "environment": report.environment}, limit=80)]
    if not rows:
        raise _NoData("No data or environment information in this run.")
    return _table(["field", "value"], rows)
