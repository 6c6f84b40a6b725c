"""Run reports: the JSON model, console tables, regression against a stored run, run history, HTML.

The model loads eagerly (the pytest plugin needs it on every run); the rest (rich, matplotlib)
loads on first use. Metric directions live in the metric registry (harness.evaluate.metrics).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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

# spelled out (the eager names, then _LAZY's) so that linters see the TYPE_CHECKING imports as re-exports
__all__ = [
    "SCHEMA_VERSION",
    "GateResult",
    "RunReport",
    "environment_info",
    "compare_runs",
    "RegressionResult",
    "save_run",
    "list_runs",
    "resolve_run",
    "write_html",
    "render_html",
    "print_run",
    "print_regression",
    "print_glance",
    "combine_reports",
    "suites_report",
    "thumbnail_b64",
    "select_examples",
]

if TYPE_CHECKING:
    from harness.report.build import suites_report
    from harness.report.combine import combine_reports
    from harness.report.console import print_regression, print_run
    from harness.report.console_glance import print_glance
    from harness.report.examples import select_examples, thumbnail_b64
    from harness.report.history import list_runs, resolve_run, save_run
    from harness.report.html import render_html, write_html
    from harness.report.regress import RegressionResult, compare_runs


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.report' has no attribute {name!r}")
