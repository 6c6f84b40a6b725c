"""Evaluation: cached embeddings, duplicate-aware retrieval, zero-shot category, CIs and paired tests."""
from __future__ import annotations

from harness.evaluate.compare import Comparison, MetricDelta, compare, compare_many
from harness.evaluate.embed import Embeddings, embed
from harness.evaluate.evaluation import EvalConfig, build_views, evaluate, evaluate_views
from harness.evaluate.results import Evaluation, QueryRanks, ZeroShotResult
from harness.evaluate.retrieval import DIRECTIONS, metric_names, query_ranks, retrieval_ranks
from harness.evaluate.stats import Estimate, bootstrap_estimates, flips, mcnemar_exact, paired_bootstrap
from harness.evaluate.templates import BUILTIN_TEMPLATES, render_captions, resolve_template

__all__ = [
    "BUILTIN_TEMPLATES", "Comparison", "DIRECTIONS", "EvalConfig", "Embeddings", "Estimate", "Evaluation",
    "MetricDelta", "QueryRanks", "ZeroShotResult", "bootstrap_estimates", "build_views", "compare", "compare_many",
    "embed", "evaluate", "evaluate_views", "flips", "mcnemar_exact", "metric_names", "paired_bootstrap",
    "query_ranks", "render_captions", "resolve_template", "retrieval_ranks",
]
