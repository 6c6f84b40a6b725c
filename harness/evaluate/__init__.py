"""Evaluation: cached embeddings, duplicate-aware retrieval, zero-shot category, the metric registry
and the comparison engine (CIs and paired tests)."""

from __future__ import annotations

from harness.evaluate.compare import Comparison, Difference, compare_evaluations, compare_many, compare_values, estimate
from harness.evaluate.embed import Embeddings, embed
from harness.evaluate.evaluation import EvalConfig, build_views, evaluate, evaluate_views
from harness.evaluate.metrics import Metric, register_metric, retrieval_names
from harness.evaluate.results import Evaluation, QueryRanks, ZeroShotResult
from harness.evaluate.retrieval import DIRECTIONS, query_ranks, retrieval_ranks
from harness.evaluate.stats import Estimate, flips, mcnemar_exact
from harness.evaluate.templates import BUILTIN_TEMPLATES, render_captions, resolve_template

__all__ = [
    "BUILTIN_TEMPLATES",
    "Comparison",
    "DIRECTIONS",
    "Difference",
    "EvalConfig",
    "Embeddings",
    "Estimate",
    "Evaluation",
    "Metric",
    "QueryRanks",
    "ZeroShotResult",
    "build_views",
    "compare_evaluations",
    "compare_many",
    "compare_values",
    "embed",
    "estimate",
    "evaluate",
    "evaluate_views",
    "flips",
    "mcnemar_exact",
    "query_ranks",
    "register_metric",
    "render_captions",
    "resolve_template",
    "retrieval_names",
    "retrieval_ranks",
]
