"""harness.report names its lazy exports twice: _LAZY (where each lives) and a literal __all__ (for linters)."""

from __future__ import annotations

import importlib

import harness.report


def test_all_lists_the_eager_names_then_every_lazy_export() -> None:
    assert harness.report.__all__ == ["SCHEMA_VERSION", "GateResult", "RunReport", "environment_info"] + list(
        harness.report._LAZY
    )
    for name, module in harness.report._LAZY.items():
        assert getattr(harness.report, name) is getattr(importlib.import_module(module), name)
