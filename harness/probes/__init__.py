"""Perturbed-title probes: perturbation families, invariance and hard-negative probes, minimal
failing edit search, the cover-text control, the write-up's named case, and the runner."""

from __future__ import annotations

from harness.probes.families import (
    ENTRY_POINT_GROUP,
    Family,
    FamilyRegistry,
    Severity,
    TitleContext,
    default_registry,
    families,
    register_family,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Family",
    "FamilyRegistry",
    "ProbeConfig",
    "ProbeReport",
    "Severity",
    "TitleContext",
    "compare_reports",
    "default_registry",
    "families",
    "register_family",
    "run_probes",
]


def __getattr__(name: str) -> object:
    # the runner pulls in torch and open_clip; families alone stay light for plugin authors
    if name in ("ProbeConfig", "ProbeReport", "run_probes", "compare_reports"):
        from harness.probes import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'harness.probes' has no attribute {name!r}")
