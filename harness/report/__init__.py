"""Run reports: the JSON model, console tables, regression against a stored run, run history, HTML.

The model loads eagerly (the pytest plugin needs it on every run); the rest (rich, matplotlib)
loads on first use. Metric directions live in the metric registry (harness.evaluate.metrics).
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.report.model import SCHEMA_VERSION, GateResult, RunReport, environment_info

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
    "print_glance": "harness.report.console_glance",
    "combine_reports": "harness.report.combine",
    "suites_report": "harness.report.build",
    "thumbnail_b64": "harness.report.examples",
    "select_examples": "harness.report.examples",
}

__all__ = ["SCHEMA_VERSION", "GateResult", "RunReport", "environment_info", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.report' has no attribute {name!r}")
