"""The evaluation session behind the `bookclip` pytest fixture.

It composes the workspace (catalogue, splits, models, the cached fine-tune), the metric source
(evaluations, probes and interpolation, computed on first use by the engines), the gate judge
and the report builder, and hands the plugin one run report at the end.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import RunConfig
from harness.errors import BookclipError
from harness.gates import Gate, GateFailure, failed, judge
from harness.metric_source import MetricSource
from harness.report.model import GateResult, RunReport
from harness.workspace import Workspace

if TYPE_CHECKING:
    from harness.data.catalogue import Catalogue
    from harness.data.split import Splits
    from harness.evaluate.interpolation import InterpolationSweep
    from harness.evaluate.results import Evaluation
    from harness.models.clip_model import ClipModel
    from harness.probes.runner import ProbeReport


class EvaluationSession:
    def __init__(self, config: RunConfig, *, rootdir: Path, selected_gates: list[Gate] | None = None) -> None:
        self.config = config
        self.rootdir = rootdir
        self.workspace = Workspace(config, rootdir=rootdir)
        self.source = MetricSource(self.workspace)
        self.selected_gates = list(selected_gates or [])
        self._results: dict[Gate, GateResult] | None = None

    # what suites and fixtures read
    @property
    def catalogue(self) -> Catalogue:
        return self.workspace.catalogue

    @property
    def splits(self) -> Splits:
        return self.workspace.splits

    def evaluation(self, role: str) -> Evaluation:
        """Retrieval and zero-shot metrics of `role` on every view (computed once)."""
        return self.source.evaluation(role)

    def probes(self, role: str) -> ProbeReport:
        return self.source.probes(role)

    @property
    def interpolation(self) -> InterpolationSweep:
        return self.source.interpolation

    @property
    def baseline(self) -> ClipModel:
        return self.workspace.baseline

    @property
    def candidate(self) -> ClipModel:
        return self.workspace.candidate

    def results(self) -> dict[Gate, GateResult]:
        """Judge every selected gate together (Holm's correction spans them all); a gate whose
        evidence cannot be computed fails (or warns) on its own, the others are still judged."""
        if self._results is None:
            # slice gates are judged by `bookclip slices` on the run report, not by a suite
            gates = self.selected_gates or [g for g in self.config.gates if g.suite != "slices"]
            evidence, errors = {}, {}
            for g in gates:
                try:
                    evidence[g] = self.source.evidence(g)
                except BookclipError as exc:
                    errors[g] = GateResult(
                        name=g.name,
                        metric=g.metric,
                        rule=g.describe(),
                        tier=g.tier,
                        outcome="FAIL" if g.tier == "fail" else "WARN",
                        message=f"error: {exc}",
                        rule_kind=g.rule,
                        threshold=g.threshold,
                        role=g.role,
                    )
            judged = [g for g in gates if g in evidence]
            results = {**dict(zip(judged, judge(judged, evidence, holm=self.config.holm), strict=True)), **errors}
            self._results = {g: results[g] for g in gates}
        return self._results

    def check(self, gate: Gate) -> GateResult:
        """Assert one gate: raises GateFailure on FAIL/UNDECIDED. A WARN is reported in the run's
        summary table, not repeated as a pytest warning."""
        try:
            results = self.results()
            if gate not in results:  # a gate outside the selection (e.g. called directly)
                results[gate] = judge([gate], {gate: self.source.evidence(gate)})[0]
            result = results[gate]
        except BookclipError as exc:
            raise GateFailure(f"{gate.metric}: {exc}") from None
        if failed([result]):
            raise GateFailure(f"{gate.metric}: {result.message}")
        return result

    def gate_numbers(self, gate: Gate) -> dict[str, Any]:
        """The judged gate's numbers for CI tools (empty before it is judged): the same estimate and
        difference objects the run report records."""
        from harness.report.glance import gate_numbers

        result = (self._results or {}).get(gate)
        if result is None:
            return {}
        difference = self.source.differences.get(gate.metric) if gate.paired else None
        estimate = self.source.estimates.get(gate.role, {}).get(gate.metric)
        return gate_numbers(result, estimate, difference, "baseline")

    def check_regressions(self, against: str) -> None:
        from harness.report.regress import compare_runs

        path = Path(against)
        stored = RunReport.read(path if path.is_absolute() else self.rootdir / path)  # as written in pyproject
        for role in ("baseline", "candidate"):  # evaluate what is compared, whatever else the run selected
            if role in stored.metrics:
                self.evaluation(role)
        result = compare_runs(
            self.finish(), stored, confidence=self.config.confidence, seed=self.config.seed, main_source=str(against)
        )
        for warning in result.warnings:
            warnings.warn(f"bookclip: {warning}", stacklevel=2)
        if result.regressions:
            raise GateFailure(f"regressed against {against}: {', '.join(result.regressions)}")

    def finish(self) -> RunReport:
        """The run report of everything computed so far, named for the run history when it is saved."""
        from harness.report.build import suites_report

        gates = list(self._results.values()) if self._results is not None else []
        return suites_report(self.workspace, self.source, gates, name=self.config.save or "run")


def write_run(report: RunReport, config: RunConfig, rootdir: Path) -> list[Path]:
    """Write the run report as JSON and HTML and, when asked, store it in the run history."""
    from harness.report.html import write_html

    out_dir = (rootdir / config.report_dir).resolve()
    paths = [report.write(out_dir / f"{report.name}.json"), write_html(report, out_dir / f"{report.name}.html")]
    if config.save:
        from harness.report.history import save_run

        paths.append(save_run(report, config.save, root=out_dir / "runs"))
    return paths


def merge_reports(reports: list[RunReport]) -> RunReport:
    """One run from the partial reports of pytest-xdist workers (each judged its own gates)."""
    merged = reports[0]
    for other in reports[1:]:
        merged.environment = merged.environment or other.environment
        merged.data = merged.data or other.data
        merged.reference = merged.reference or other.reference
        for role, model in other.models.items():
            merged.models.setdefault(role, model)
        for role, estimates in other.metrics.items():
            merged.metrics.setdefault(role, {}).update(estimates)
        for role, differences in other.comparisons.items():
            merged.comparisons.setdefault(role, {}).update(differences)
        for role, flips in other.flips.items():
            merged.flips.setdefault(role, {}).update(flips)
        merged.per_query.update(other.per_query)
        merged.sections.update(other.sections)
        known = {g.name for g in merged.gates}
        merged.gates += [g for g in other.gates if g.name not in known]
    return merged
