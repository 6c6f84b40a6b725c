"""Run reports: the JSON model, console tables, regression against a stored run, run history, HTML.

The model and metric directions load eagerly (the pytest plugin needs them on every run);
the rest (rich, matplotlib) loads on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from harness.report.directions import higher_is_better
from harness.report.model import (SCHEMA_VERSION, Comparison, GateResult, MetricValue, RunReport,
                                  environment_info)

_LAZY = {
    "compare_runs": "harness.report.regress",
    "RegressionResult": "harness.report.regress",
    "save_run": "harness.report.history",
    "list_runs": "harness.report.history",
    "resolve_run": "harness.report.history",
    "write_html": "harness.report.html",
    "render_html": "harness.report.html",
    "print_run": "harness.report.console",
    "print_regression": "harness.report.console",
    "thumbnail_b64": "harness.report.examples",
    "select_examples": "harness.report.examples",
}

__all__ = ["SCHEMA_VERSION", "Comparison", "GateResult", "MetricValue", "RunReport", "environment_info",
           "higher_is_better", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.report' has no attribute {name!r}")
