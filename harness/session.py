"""The evaluation session behind the `bookclip` pytest fixture.

It loads the catalogue and splits it, resolves the baseline and the candidate (fine-tuning
one when asked, cached by the fingerprints of baseline, data and recipe), and computes each
metric a gate names on first use, with its bootstrap CI and, for candidate against baseline,
the paired bootstrap distribution of the difference. Everything it computed is written as
one run report at the end of the pytest session.
"""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import RunConfig
from harness.errors import BookclipError, ConfigError, EvaluationError
from harness.gates import Evidence, Gate, GateFailure, failed, judge
from harness.report.model import Comparison, GateResult, MetricValue, RunReport, environment_info

ROLES = ("baseline", "candidate")
FLIP_K = 5
EXAMPLES = 6


class EvaluationSession:
    def __init__(self, config: RunConfig, *, rootdir: Path, selected_gates: list[Gate] | None = None) -> None:
        self.config = config
        self.rootdir = rootdir
        self.selected_gates = list(selected_gates or [])
        self.report = RunReport(seed=config.seed)
        self._results: dict[Gate, GateResult] | None = None
        self._evidence: dict[Gate, Evidence] = {}
        self._evaluations: dict[str, Any] = {}
        self._training_overlap: dict[str, dict[str, Any]] = {}  # role -> evaluated books it was trained on
        self._probes: dict[str, Any] = {}

    # -- data and models -----------------------------------------------------------------
    @functools.cached_property
    def data_sources(self) -> list[str]:
        if self.config.data is not None:
            return [self.config.data]
        from harness.data.fixtures import fixture_catalogue

        return [str(fixture_catalogue())]

    @functools.cached_property
    def _loaded(self) -> tuple[Any, Any]:
        from harness.data import load_catalogue

        return load_catalogue(self.data_sources, image_root=self.config.image_root, strict=self.config.strict)

    @property
    def catalogue(self) -> Any:
        return self._loaded[0]

    @property
    def load_report(self) -> Any:
        return self._loaded[1]

    @functools.cached_property
    def splits(self) -> Any:
        from harness.data import split

        missing = [c for c in self.config.categories if c not in self.catalogue.categories]
        if missing:
            raise ConfigError(f"categories {missing} are not in the catalogue (it has {list(self.catalogue.categories)}); "
                              "set --bookclip-categories")
        return split(self.catalogue, train_categories=self.config.categories,
                     heldout_fraction=self.config.heldout_fraction, seed=self.config.seed,
                     replay_fraction=self.replay_fraction)

    @functools.cached_property
    def replay_fraction(self) -> float:
        """The other-category books rehearsed by the fine-tune (its recipe, or a checkpoint's
        training metadata) stay out of the cross views: forgetting is measured on unseen books."""
        from harness.evaluate.evaluation import replay_fraction_of

        if self.config.candidate == "finetune":
            value = self.config.finetune.get("replay_fraction", 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"[tool.bookclip.finetune] replay_fraction = {value!r} must be a number in [0, 1)")
            return max(float(value), replay_fraction_of([self.baseline]))
        return replay_fraction_of([self.baseline, self.candidate])

    @functools.cached_property
    def baseline(self) -> Any:
        from harness.models import load

        return load(self.config.baseline)

    @functools.cached_property
    def candidate(self) -> Any:
        from harness.models import load

        if self.config.candidate == "finetune":
            return load(str(self.finetuned_checkpoint()))
        return load(self.config.candidate)

    def finetuned_checkpoint(self) -> Path:
        """Fine-tune the baseline on the configured categories once; later runs (and other xdist
        workers, which wait on a file lock) reuse the checkpoint, keyed by what determines it."""
        from harness.data.file_lock import exclusive_lock
        from harness.finetune.config import FinetuneConfig
        from harness.finetune.launch import launch
        from harness.io import cache_dir, sha256_hex

        cfg = FinetuneConfig.from_dict({
            **dict(self.config.finetune),
            "data": tuple(self.data_sources), "image_root": self.config.image_root,
            "categories": tuple(self.config.categories), "baseline": self.config.baseline,
            "heldout_fraction": self.config.heldout_fraction, "seed": self.config.seed,
            "launcher": self.config.finetune.get("launcher", self.config.launcher),
            "num_processes": self.config.finetune.get("num_processes", self.config.num_processes),
        })
        key = sha256_hex(self.baseline.fingerprint, self.catalogue.fingerprint, cfg.recipe_hash())[:16]
        out = cache_dir() / "finetune" / key
        checkpoint = out / "final.safetensors"
        with exclusive_lock(out.with_suffix(".lock")):
            if not checkpoint.is_file():
                manifest = launch(cfg.replace(out=str(out / "run")))
                # one stable name per cache key; the run directory keeps logs and resumable state
                os.replace(manifest.checkpoint, checkpoint)
        self.report.sections.setdefault("finetune", {"cache_key": key, "checkpoint": str(checkpoint),
                                                     "recipe_hash": cfg.recipe_hash()})
        return checkpoint

    def model(self, role: str) -> Any:
        return self.baseline if role == "baseline" else self.candidate

    # -- evaluations, computed once per role -------------------------------------------------
    @functools.cached_property
    def eval_config(self) -> Any:
        from harness.evaluate.evaluation import EvalConfig

        cfg = self.config
        return EvalConfig(template=cfg.template, ks=cfg.ks, seed=cfg.seed, resamples=cfg.resamples,
                          confidence=cfg.confidence, heldout_fraction=cfg.heldout_fraction,
                          replay_fraction=self.replay_fraction)

    def evaluation(self, role: str) -> Any:
        """Retrieval and zero-shot metrics of one model on train, heldout, cross and cross:<Category>."""
        from harness.evaluate.evaluation import evaluate_views

        if role not in self._evaluations:
            views = {name: getattr(self.splits, name) for name in ("train", "heldout", "cross")
                     if len(getattr(self.splits, name))}
            self._check_training_overlap(role, views)
            self._evaluations[role] = evaluate_views(self.model(role), self.catalogue, views, config=self.eval_config)
        return self._evaluations[role]

    def _check_training_overlap(self, role: str, views: dict[str, Any]) -> None:
        """Record which evaluated books the model was trained on, and warn when that inflates a
        metric: any held-out book, or a cross-category book the candidate was tuned on. (A
        baseline's own pretraining books in `cross` are expected: that is what it should keep.)"""
        from harness.evaluate.leakage import training_overlap

        overlap = training_overlap(self.model(role), self.catalogue, views)
        self._training_overlap[role] = overlap.to_dict()
        inflated = {v: n for v, n in overlap.views.items() if n and (v == "heldout" or (v == "cross" and role != "baseline"))}
        for view, n in inflated.items():
            warnings.warn(f"bookclip: the {role} was trained on {n} of the {len(views[view])} {view} books, so its "
                          f"{view} metrics are inflated; evaluate with the categories, seed, heldout_fraction and "
                          "replay_fraction it was fine-tuned with (its checkpoint metadata)", stacklevel=2)

    @functools.cached_property
    def interpolation(self) -> Any:
        """WiSE-FT sweep between baseline and candidate; its best alpha is the 'interpolated' model."""
        from harness.evaluate.interpolation import interpolation_sweep

        sweep = interpolation_sweep(self.baseline, self.candidate, self.catalogue,
                                    train_categories=self.config.categories, config=self.eval_config)
        self.report.sections["interpolation"] = _interpolation_section(sweep)
        return sweep

    def _interpolated_evaluation(self) -> Any:
        sweep = self.interpolation
        if sweep.best_alpha is None:
            raise EvaluationError("no interpolation weight meets the cross-category constraint "
                                  f"({sweep.constraint}); the interpolation gates cannot be judged")
        return next(p.evaluation for p in sweep.points if p.alpha == sweep.best_alpha)

    def probes(self, role: str) -> Any:
        """Every perturbation probe of one model over the held-out books of the tuned categories."""
        from harness.probes.runner import ProbeConfig, run_probes

        if role not in self._probes:
            config = ProbeConfig(seed=self.config.seed, resamples=self.config.resamples)
            self._probes[role] = run_probes(self.model(role), self.splits.heldout, config)
        return self._probes[role]

    def per_query(self, key: str, role: str) -> tuple[np.ndarray, str, np.ndarray | None]:
        """Per-query values whose statistic (mean; median for median_rank; a probe's own) is the
        metric `key` of `role`, that statistic's name, and the item ids when the items depend on
        the model (probes)."""
        from harness.evaluate.retrieval import per_query_values

        if key.startswith("probes/"):
            sample = self.probes(role).samples.get(key)
            if sample is None:
                raise EvaluationError(f"the probe run has no metric {key!r}; probe families run: "
                                      f"{', '.join(self.probes(role).family_names())}")
            return sample.values, sample.statistic, np.asarray(sample.book_ids)
        if key.startswith("interpolation/"):
            key = key[len("interpolation/"):]
            evaluation = self._interpolated_evaluation() if role == "candidate" else self.evaluation(role)
        else:
            evaluation = self.evaluation(role)
        view, direction, metric = key.split("/")
        if direction == "zero_shot":
            if view not in evaluation.zero_shot:
                raise EvaluationError(f"no zero-shot result for view {view!r}")
            return evaluation.zero_shot[view].correct.astype(np.float64), "mean", None
        ranking = evaluation.rankings.get(f"{view}/{direction}")
        if ranking is None:
            raise EvaluationError(f"no {direction} retrieval for view {view!r}; views here: "
                                  f"{', '.join(sorted({k.split('/')[0] for k in evaluation.rankings}))}")
        return per_query_values(ranking.ranks, metric), "median" if metric == "median_rank" else "mean", None

    # -- gates ------------------------------------------------------------------------------
    def evidence(self, gate: Gate) -> Evidence:
        if gate not in self._evidence:
            if gate.metric == "interpolation/best_alpha":
                alpha = self.interpolation.best_alpha
                value = float("nan") if alpha is None else float(alpha)
                self._evidence[gate] = Evidence(value, value, value, len(self.interpolation.points))
            else:
                self._evidence[gate] = self._paired_evidence(gate.metric, gate.role, paired=gate.paired)
        return self._evidence[gate]

    def _paired_evidence(self, key: str, role: str, *, paired: bool) -> Evidence:
        """The metric with its bootstrap CI; for paired rules also the bootstrap distribution of
        candidate minus baseline over the same resampled queries."""
        from harness.evaluate.stats import bootstrap_estimates, difference_distribution, statistic

        cfg = self.config
        estimates, values, ids = {}, {}, {}
        for r in (ROLES if paired else (role,)):
            values[r], kind, ids[r] = self.per_query(key, r)
            estimates[r] = bootstrap_estimates({key: values[r]}, statistics={key: kind},
                                               resamples=cfg.resamples, confidence=cfg.confidence, seed=cfg.seed)[key]
            self._record_metric(r, key, estimates[r])
        est = estimates[role if not paired else "candidate"]
        if not paired:
            return Evidence(est.value, est.ci_low, est.ci_high, est.n)
        base, cand = values["baseline"], values["candidate"]
        if ids["baseline"] is not None and ids["candidate"] is not None:
            # Probe items can depend on the model (e.g. lost@k counts only covers the exact title
            # found): pair the items both models were measured on.
            _, ib, ic = np.intersect1d(ids["baseline"], ids["candidate"], return_indices=True)
            base, cand = base[ib], cand[ic]
        if base.shape != cand.shape or base.size == 0:
            raise EvaluationError(f"{key}: baseline and candidate share no queries to compare")
        samples = difference_distribution(base, cand, statistic_name=kind, resamples=cfg.resamples, seed=cfg.seed)
        tail = (1 - cfg.confidence) / 2
        low, high = (float(q) for q in np.quantile(samples, [tail, 1 - tail]))
        delta = statistic(cand, kind) - statistic(base, kind)
        self._record_comparison(key, delta, low, high, base, cand)
        return Evidence(value=est.value, ci_low=est.ci_low, ci_high=est.ci_high, n=len(base),
                        baseline=estimates["baseline"].value, delta=delta, delta_ci=(low, high),
                        delta_samples=samples)

    def results(self) -> dict[Gate, GateResult]:
        """Judge every selected gate together (Holm's correction spans them all)."""
        if self._results is None:
            gates = self.selected_gates or list(self.config.gates)
            evidence, errors = {}, {}
            for g in gates:
                try:
                    evidence[g] = self.evidence(g)
                except BookclipError as exc:  # this gate cannot be judged; the others still can
                    errors[g] = GateResult(name=g.name, metric=g.metric, rule=g.describe(), tier=g.tier,
                                           outcome="FAIL" if g.tier == "fail" else "WARN", message=f"error: {exc}")
            judged = [g for g in gates if g in evidence]
            self._results = {**dict(zip(judged, judge(judged, evidence, holm=self.config.holm))), **errors}
            self._results = {g: self._results[g] for g in gates}
            self.report.gates = list(self._results.values())
        return self._results

    def check(self, gate: Gate) -> GateResult:
        """Assert one gate: raises GateFailure on FAIL/UNDECIDED, warns on WARN."""
        try:
            results = self.results()
            if gate not in results:  # a gate outside the selection (e.g. called directly)
                results[gate] = judge([gate], {gate: self.evidence(gate)})[0]
                self.report.gates = list(results.values())
            result = results[gate]
        except BookclipError as exc:
            raise GateFailure(f"{gate.metric}: {exc}") from None
        if failed([result]):
            raise GateFailure(f"{gate.metric}: {result.message}")
        if result.outcome == "WARN":
            warnings.warn(f"bookclip gate {gate.metric}: {result.message}", stacklevel=2)
        return result

    def check_regressions(self, against: str) -> None:
        from harness.report.regress import compare_runs

        stored = RunReport.read(against)
        self.assemble()
        result = compare_runs(self.report, stored, confidence=self.config.confidence, seed=self.config.seed,
                              main_source=str(against))
        for warning in result.warnings:
            warnings.warn(f"bookclip: {warning}", stacklevel=2)
        if result.regressions:
            raise GateFailure(f"regressed against {against}: {', '.join(result.regressions)}")

    # -- the run report -----------------------------------------------------------------------
    def _record_metric(self, role: str, key: str, est: Any) -> None:
        self.report.metrics.setdefault(role, {})[key] = MetricValue(est.value, est.ci_low, est.ci_high, est.n)

    def _record_comparison(self, key: str, delta: float, low: float, high: float,
                           base: np.ndarray, cand: np.ndarray) -> None:
        from harness.evaluate.stats import mcnemar_exact
        from harness.report.directions import higher_is_better

        name = key.rsplit("/", 1)[-1]
        hits = name.startswith("recall@") or name == "accuracy"  # per-query 0/1: McNemar's exact test
        p_value = mcnemar_exact(base > 0.5, cand > 0.5).p_value if hits else None
        self.report.comparisons[key] = Comparison(delta, low, high, len(base), p_value, higher_is_better(key))

    def assemble(self) -> RunReport:
        """Fill the report with everything this session computed: identity, data, every metric
        with its CI, paired comparisons, per-query ranks, flips and example covers."""
        from harness.evaluate.stats import flips, paired_bootstrap

        report = self.report
        report.environment = report.environment or environment_info(self.rootdir)
        if "_loaded" in self.__dict__:
            report.data = {"sources": self.data_sources, "fingerprint": self.catalogue.fingerprint,
                           "load_report": self.load_report.to_dict(), "categories": list(self.config.categories)}
            if "splits" in self.__dict__:
                report.data["view_sizes"] = {v: len(getattr(self.splits, v)) for v in ("train", "heldout", "cross")}
                report.data["withheld"] = self.splits.withheld
                if self._training_overlap:
                    report.data["training_overlap"] = dict(self._training_overlap)
                if self.splits.replay is not None:  # rehearsed by the fine-tune, so not in cross
                    report.data["replay"] = {"fraction": self.replay_fraction, "rows": self.splits.replay_rows}
        for role in ROLES:
            if role in self.__dict__:
                spec = self.config.baseline if role == "baseline" else self.config.candidate
                report.models[role] = {"spec": spec, "fingerprint": self.__dict__[role].fingerprint}
        for role, evaluation in self._evaluations.items():
            for key, est in evaluation.metrics.items():
                report.metrics.setdefault(role, {}).setdefault(key, MetricValue(est.value, est.ci_low, est.ci_high, est.n))
            for prefix, ranking in evaluation.rankings.items():
                entry = report.per_query.setdefault(prefix, {"item_ids": list(ranking.book_ids),
                                                             "titles": list(ranking.titles), "ranks": {}})
                entry["ranks"][role] = [int(x) for x in ranking.ranks]
        for role, probe_report in self._probes.items():
            for key, est in probe_report.metrics.items():
                report.metrics.setdefault(role, {}).setdefault(key, MetricValue(est.value, est.ci_low, est.ci_high, est.n))
            report.sections.setdefault("probes", {})[role] = probe_report.to_dict()
        categories = self._per_category()
        if categories:
            report.sections["categories"] = categories
        if all(role in self._evaluations for role in ROLES):
            self._assemble_comparisons(paired_bootstrap, flips)
            report.sections["examples"] = self._examples()
        return report

    def _per_category(self) -> dict[str, dict[str, dict[str, float]]]:
        """category -> role -> image-to-text metric: the tuned categories' held-out books and
        each other category (cross:<Category>)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        tuned = "+".join(self.config.categories) + " (tuned, held out)"
        for role, evaluation in self._evaluations.items():
            for key, est in evaluation.metrics.items():
                view, direction, metric = key.split("/")
                if direction != "image_to_text" or not (view == "heldout" or view.startswith("cross:")):
                    continue
                name = tuned if view == "heldout" else view.split(":", 1)[1]
                out.setdefault(name, {}).setdefault(role, {})[metric] = est.value
        return out

    def _assemble_comparisons(self, paired_bootstrap: Any, flips: Any) -> None:
        from harness.evaluate.retrieval import metric_names, per_query_values
        from harness.evaluate.stats import mcnemar_exact

        cfg, report = self.config, self.report
        base_eval, cand_eval = self._evaluations["baseline"], self._evaluations["candidate"]
        for prefix, base_rank in base_eval.rankings.items():
            cand_rank = cand_eval.rankings[prefix]
            names = [m for m in metric_names(cfg.ks) if f"{prefix}/{m}" not in report.comparisons]
            if names:
                a = {m: per_query_values(base_rank.ranks, m) for m in names}
                b = {m: per_query_values(cand_rank.ranks, m) for m in names}
                diffs = paired_bootstrap(a, b, statistics={"median_rank": "median"}, resamples=cfg.resamples,
                                         confidence=cfg.confidence, seed=cfg.seed)
                for m, d in diffs.items():
                    p = mcnemar_exact(a[m] > 0.5, b[m] > 0.5).p_value if m.startswith("recall@") else None
                    report.comparisons[f"{prefix}/{m}"] = Comparison(d.value, d.ci_low, d.ci_high, d.n, p,
                                                                     not m.endswith("rank"))
            f = flips(base_rank.ranks, cand_rank.ranks, FLIP_K, base_rank.book_ids, base_rank.titles)
            report.flips[f"{prefix}/recall@{FLIP_K}"] = {"improved": [_flip(x) for x in f.improved],
                                                        "regressed": [_flip(x) for x in f.regressed]}

    def _examples(self) -> list[dict[str, Any]]:
        """Covers of the heldout books that moved most, with each model's top-5 titles."""
        from harness.evaluate.embed import embed
        from harness.report.examples import select_examples, thumbnail_b64

        prefix = "heldout/image_to_text"
        base_rank = self._evaluations["baseline"].rankings.get(prefix)
        cand_rank = self._evaluations["candidate"].rankings.get(prefix)
        if base_rank is None or cand_rank is None:
            return []
        worst, best = select_examples(base_rank.ranks, cand_rank.ranks, count=EXAMPLES)
        view = self.splits.heldout
        frame = view.frame.reset_index(drop=True)
        row_of = {b: i for i, b in enumerate(frame["book_id"].astype(str))}
        embedded = {role: embed(self.model(role), self.catalogue, template=self.config.template)
                    .select(frame["book_id"].astype(str).tolist()) for role in ROLES}
        examples = []
        for kind, indices in (("regressed", worst), ("improved", best)):
            for i in indices:
                book_id = base_rank.book_ids[i]
                row = row_of[book_id]
                item: dict[str, Any] = {"kind": kind, "book_id": book_id, "title": str(frame.at[row, "title"]),
                                        "author": str(frame.at[row, "author"]), "category": str(frame.at[row, "category"]),
                                        "rank": {"baseline": int(base_rank.ranks[i]), "candidate": int(cand_rank.ranks[i])},
                                        "top5": {}}
                try:
                    item["thumbnail"] = thumbnail_b64(view.open_image(row))
                except BookclipError:
                    item["thumbnail"] = None
                group = frame.at[row, "group_id"]
                for role in ROLES:
                    emb = embedded[role]
                    sims = emb.texts @ emb.images[row]
                    top = np.argsort(-sims, kind="stable")[:5]
                    item["top5"][role] = [{"title": str(frame.at[int(j), "title"]), "similarity": float(sims[j]),
                                           "correct": bool(frame.at[int(j), "group_id"] == group)} for j in top]
                examples.append(item)
        return examples

    def finish(self) -> RunReport:
        """The assembled run report, named for the run history when it is to be saved."""
        report = self.assemble()
        report.name = self.config.save or "run"
        return report


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
        for role, model in other.models.items():
            merged.models.setdefault(role, model)
        for role, values in other.metrics.items():
            merged.metrics.setdefault(role, {}).update(values)
        merged.comparisons.update(other.comparisons)
        merged.per_query.update(other.per_query)
        merged.flips.update(other.flips)
        merged.sections.update(other.sections)
        known = {g.name for g in merged.gates}
        merged.gates += [g for g in other.gates if g.name not in known]
    return merged


def suite_summary(report: RunReport, *, markup: bool) -> str:
    """One rich table per suite: metric, baseline, candidate, delta with CI, gate, outcome."""
    import io

    from rich.table import Table
    from rich.text import Text

    from harness.gates import suite_of
    from harness.report.console import fmt, fmt_ci, make_console

    styles = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "UNDECIDED": "magenta"}
    buffer = io.StringIO()
    console = make_console(file=buffer, force_terminal=markup)
    by_suite: dict[str, list[GateResult]] = {}
    for result in report.gates:
        by_suite.setdefault(suite_of(result.metric) or "other", []).append(result)
    for suite, rows in sorted(by_suite.items()):
        table = Table(title=f"bookclip · {suite}", title_justify="left")
        for column in ("metric", "baseline", "candidate", "delta [CI]", "gate", "outcome"):
            table.add_column(column, justify="right" if column in ("baseline", "candidate") else "left")
        for result in rows:
            base = report.metrics.get("baseline", {}).get(result.metric)
            cand = report.metrics.get("candidate", {}).get(result.metric)
            comparison = report.comparisons.get(result.metric)
            delta = f"{fmt(comparison.delta, True)} {fmt_ci(comparison.ci_low, comparison.ci_high)}" if comparison else ""
            table.add_row(Text(result.metric), fmt(base.value) if base else "-", fmt(cand.value) if cand else "-",
                          delta, Text(result.rule), Text(result.outcome, style=styles.get(result.outcome, "")))
        console.print(table)
    return buffer.getvalue()


def _flip(f: Any) -> dict[str, Any]:
    return {"book_id": f.book_id, "title": f.title, "baseline_rank": f.rank_a, "candidate_rank": f.rank_b}


def _interpolation_section(sweep: Any) -> dict[str, Any]:
    in_key, cross_key = f"{sweep.in_view}/{sweep.metric}", f"{sweep.cross_view}/{sweep.metric}"
    return {"alphas": [p.alpha for p in sweep.points],
            "in_category": {in_key: [p.in_category.value for p in sweep.points]},
            "cross_category": {cross_key: [p.cross_category.value for p in sweep.points]},
            "frontier": list(sweep.frontier), "best_alpha": sweep.best_alpha, "constraint": sweep.constraint}
