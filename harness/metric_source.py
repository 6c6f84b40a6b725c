"""The numbers of a `pytest suites/` run: each computed once, on first use, by the engines.

Evaluations (retrieval and zero-shot on every view), probes and the interpolation sweep run per
model role when a gate first needs them; the per-query values of any registered metric key
come from them, and the comparison engine turns those into estimates and differences.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import EvaluationError
from harness.evaluate.compare import Difference, compare_values, estimate
from harness.evaluate.metrics import metric_key
from harness.evaluate.stats import Estimate
from harness.gates import Evidence, Gate
from harness.workspace import ROLES, Workspace

if TYPE_CHECKING:
    from harness.evaluate.interpolation import InterpolationSweep
    from harness.evaluate.results import Evaluation
    from harness.probes.runner import ProbeReport


# Probe items drawn from the unseen books: enough that `lost@5`, counted over the items both models
# find in their top 5 at all, decides a 0.05 margin (300 items left 86 such items, UNDECIDED).
PROBE_ITEMS = 600


def _default_edit_items() -> int:
    """The probe runner's own number of minimal-edit items."""
    from harness.probes.runner import ProbeConfig

    return ProbeConfig().edit_items


class MetricSource:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.evaluations: dict[str, Evaluation] = {}
        self.probe_reports: dict[str, ProbeReport] = {}
        self.estimates: dict[str, dict[str, Estimate]] = {}  # role -> key -> what a gate was judged on
        self.differences: dict[str, Difference] = {}  # key -> candidate against baseline
        self.derived: dict[Any, dict[str, Any]] = {}  # what run reports derive from the evaluations (build.py)

    def evaluation(self, role: str) -> Evaluation:
        """Retrieval and zero-shot metrics of one model on train, heldout, cross and cross:<Category>."""
        from harness.evaluate.evaluation import evaluate_views

        if role not in self.evaluations:
            ws = self.workspace
            views = ws.views()
            ws.check_training_overlap(role, views)
            self.evaluations[role] = evaluate_views(ws.model(role), ws.catalogue, views, config=ws.eval_config)
        return self.evaluations[role]

    def probes(self, role: str) -> ProbeReport:
        """Every perturbation probe of one model over the books no model trained on: the held-out books
        of the tuned categories and the cross-category books (a pool large enough that every probe
        gate has its min_n items, also for a baseline that never learnt the tuned categories)."""
        from harness.probes.runner import ProbeConfig, run_probes

        if role not in self.probe_reports:
            ws = self.workspace
            config = ProbeConfig(
                seed=ws.config.seed, resamples=ws.config.resamples, max_items=PROBE_ITEMS, **self._probes_gated()
            )
            self.probe_reports[role] = run_probes(ws.model(role), ws.probe_pool, config)
        return self.probe_reports[role]

    def _probes_gated(self) -> dict[str, Any]:
        """Only the probes the configured gates read: the perturbation families they name (the
        unperturbed `exact` titles and hard negatives always run), the cover-text control and the
        minimal-edit search only when a gate reads them. `bookclip probe` runs every probe."""
        names = {g.metric.split("/")[1] for g in self.workspace.config.gates if g.metric.startswith("probes/")}
        control = any(n.endswith("@title_hidden") or n.startswith("cover_text") for n in names)
        families = {n.split("@")[0] for n in names} - {"exact", "hard_negatives", "minimal_edit", "cover_text"}
        return {
            "families": tuple(sorted(families)),
            "cover_control": control,
            "edit_items": _default_edit_items() if "minimal_edit" in names else 0,
        }

    @functools.cached_property
    def interpolation(self) -> InterpolationSweep:
        """WiSE-FT sweep between baseline and candidate; its best alpha is the 'interpolated' model."""
        from harness.evaluate.interpolation import interpolation_sweep

        ws = self.workspace
        return interpolation_sweep(
            ws.baseline, ws.candidate, ws.catalogue, train_categories=ws.config.categories, config=ws.eval_config
        )  # its views leave out the baseline's books too

    @property
    def has_interpolation(self) -> bool:
        return "interpolation" in self.__dict__

    def _interpolated_evaluation(self) -> Evaluation:
        sweep = self.interpolation
        if sweep.best_alpha is None:
            raise EvaluationError(
                "no interpolation weight meets the cross-category constraint "
                f"({sweep.constraint}); the interpolation gates cannot be judged"
            )
        return next(p.evaluation for p in sweep.points if p.alpha == sweep.best_alpha)

    def per_query(self, key: str, role: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-query values whose registered statistic is the metric `key` of `role`, and the item
        ids when the items depend on the model (probes)."""
        parsed = metric_key(key)
        if parsed.kind == "probes":
            sample = self.probes(role).samples.get(key)
            if sample is None:
                raise EvaluationError(
                    f"the probe run has no metric {key!r}; probe families run: "
                    f"{', '.join(self.probes(role).family_names())}"
                )
            return sample.values, sample.book_ids
        if parsed.interpolated and role == "candidate":
            evaluation = self._interpolated_evaluation()
        else:
            evaluation = self.evaluation(role)
        return evaluation.per_query(parsed.base_key)[1], None

    def evidence(self, gate: Gate) -> Evidence:
        """The gate's metric with its CI and, for paired rules, the engine's difference."""
        if gate.metric == "interpolation/best_alpha":
            alpha = self.interpolation.best_alpha
            value = float("nan") if alpha is None else float(alpha)
            return Evidence(Estimate(value, value, value, len(self.interpolation.points)))
        settings = self.workspace.stat_settings
        values = {}
        for role in ROLES if gate.paired else (gate.role,):
            values[role] = self.per_query(gate.metric, role)
            self.estimates.setdefault(role, {})[gate.metric] = estimate(gate.metric, values[role][0], settings)
        if not gate.paired:
            return Evidence(self.estimates[gate.role][gate.metric])
        (base, base_ids), (cand, cand_ids) = values["baseline"], values["candidate"]
        difference = compare_values(gate.metric, base, cand, settings, ids_a=base_ids, ids_b=cand_ids)
        if difference.n == 0:
            raise EvaluationError(f"{gate.metric}: baseline and candidate share no queries to compare")
        self.differences[gate.metric] = difference
        return Evidence(self.estimates["candidate"][gate.metric], difference)
