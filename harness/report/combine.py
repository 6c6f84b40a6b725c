"""N checkpoints side by side: several run reports as one, every model against the first file's reference.

The first file gives the reference (its `reference` role, or its only model) and keeps its other
models; each further file contributes its candidate (its first compared role, or its only model),
named after the file. Files on different data (fingerprints) cannot be compared: one-line error.
Where per-query ranks cover the same items in both files, each retrieval metric's difference is
the comparison engine's paired one (`compare_values` on the registry's `from_ranks`); elsewhere
the difference compares point estimates and says so (test "point", no CI). Gates keep the model
they judged, so the forest plot shows one row group per checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.errors import ConfigError
from harness.evaluate.compare import Difference, compare_values
from harness.evaluate.metrics import direction_of, parse_key
from harness.report.model import RunReport
from harness.report.paired import pair_ranks
from harness.settings import StatSettings

POINT = "point"  # the test name of a difference between point estimates


def contributed_role(report: RunReport, source: str) -> str:
    """The model a further file contributes: its first compared role, or its only model."""
    if report.compared_roles:
        return report.compared_roles[0]
    roles = [r for r in report.roles if r in report.metrics]
    if len(roles) != 1:
        raise ConfigError(
            f"{source} holds {len(roles)} models ({', '.join(roles) or 'none'}) and no comparison; "
            "pass a run with one model or one candidate"
        )
    return roles[0]


def combine_reports(
    reports: Sequence[RunReport], sources: Sequence[str], *, stats: StatSettings | None = None
) -> RunReport:
    if len(reports) < 2:
        return reports[0]
    first = reports[0]
    fingerprint = first.data.get("fingerprint")
    for other, source in zip(reports[1:], sources[1:], strict=True):
        theirs = other.data.get("fingerprint")
        if fingerprint and theirs and theirs != fingerprint:
            raise ConfigError(
                f"{source} was evaluated on other data (fingerprint {str(theirs)[:12]}, "
                f"{sources[0]} has {str(fingerprint)[:12]}): compare runs of the same catalogue"
            )
    reference = first.reference or contributed_role(first, sources[0])
    stats = stats or StatSettings(
        int(first.settings.get("resamples", 1000)), float(first.settings.get("confidence", 0.95)), first.seed
    )
    out = RunReport(
        kind=first.kind,
        name=" vs ".join(Path(s).stem for s in sources),
        seed=first.seed,
        environment=first.environment,
        settings=dict(first.settings),
        data=dict(first.data),
        reference=reference,
        sections=dict(first.sections),
    )
    out.models = {role: dict(m) for role, m in first.models.items()}
    out.metrics = {role: dict(v) for role, v in first.metrics.items()}
    out.comparisons = {role: dict(v) for role, v in first.comparisons.items()}
    out.per_query = {
        view: {**entry, "ranks": dict(entry.get("ranks") or {})} for view, entry in first.per_query.items()
    }
    out.flips = dict(first.flips)
    out.gates = list(first.gates)
    taken = set(out.roles)
    for other, source in zip(reports[1:], sources[1:], strict=True):
        role = contributed_role(other, source)
        name = Path(source).stem or role
        while name in taken:
            name += "'"
        taken.add(name)
        out.models[name] = {**other.models.get(role, {}), "source": source, "role_in_source": role}
        out.metrics[name] = dict(other.metrics.get(role, {}))
        out.comparisons[name] = _differences(out, other, role, name, stats)
        out.gates += [replace(g, role=name) for g in other.gates if g.role == role]
    return out


def _differences(out: RunReport, other: RunReport, role: str, name: str, stats: StatSettings) -> dict[str, Difference]:
    reference = out.reference or ""
    diffs: dict[str, Difference] = {}
    for key, est in out.metrics[name].items():
        ref = out.metrics.get(reference, {}).get(key)
        if ref is None:
            continue
        paired = _paired(out, other, key, role, reference, name, stats)
        if paired is not None:
            diffs[key] = paired
            continue
        hib = direction_of(key)
        delta = est.value - ref.value if math.isfinite(est.value) and math.isfinite(ref.value) else math.nan
        diffs[key] = Difference(
            key, ref.value, est.value, delta, math.nan, math.nan, min(est.n, ref.n), math.nan, POINT, hib
        )
    return diffs


def _paired(
    out: RunReport, other: RunReport, key: str, role: str, reference: str, name: str, stats: StatSettings
) -> Difference | None:
    """The engine's paired difference when both files hold per-query ranks of the same items."""
    parsed = parse_key(key)
    if parsed is None or parsed.kind != "retrieval" or parsed.interpolated:
        return None
    view = key.rsplit("/", 1)[0]
    mine, theirs = out.per_query.get(view) or {}, other.per_query.get(view) or {}
    pair = pair_ranks(mine, theirs, reference, role)
    if isinstance(pair, str):  # the same refusal as `report --against`: no invented paired result
        return None
    a, aligned = pair.first, pair.second
    mine["ranks"][name] = aligned.astype(int).tolist()  # the recall curves draw it beside the others
    return compare_values(key, parsed.resolved.from_ranks(a), parsed.resolved.from_ranks(aligned), stats)
