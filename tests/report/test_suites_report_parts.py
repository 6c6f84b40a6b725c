"""The regression suite's run report and the final one are built from the same two evaluations: the
comparison and the Slices section are derived from them once, and again when an evaluation is another."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.report import build
from harness.settings import StatSettings


def test_comparison_and_slices_are_derived_once_per_pair_of_evaluations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.evaluate.compare as compare
    import harness.report.examples as examples
    import harness.report.slices as slices

    calls = {"compare": 0, "slices": 0}

    def comparing(a, b, settings):  # type: ignore[no-untyped-def]
        calls["compare"] += 1
        return SimpleNamespace(differences={}, flips={})

    def slicing(report, catalogue, *, level):  # type: ignore[no-untyped-def]
        calls["slices"] += 1
        report.sections[slices.SECTION] = {"analysis": calls["slices"]}

    monkeypatch.setattr(compare, "compare_evaluations", comparing)
    monkeypatch.setattr(slices, "add_slices", slicing)
    monkeypatch.setattr(examples, "example_books", lambda *a, **k: {})
    monkeypatch.setattr(build, "_per_category", lambda *a: {})
    monkeypatch.setattr(build, "add_evaluation", lambda *a: None)
    config = SimpleNamespace(
        engine="local", ks=(1, 5), template="{title}", heldout_fraction=0.2, categories=["A"], slice_level=0.05
    )
    workspace = SimpleNamespace(
        config=config,
        stat_settings=StatSettings(),
        rootdir=tmp_path,
        loaded=False,
        finetune_record={},
        loaded_models=lambda: {},
        splits=SimpleNamespace(),
        catalogue=object(),
    )
    source = SimpleNamespace(
        estimates={},
        differences={},
        evaluations={"baseline": object(), "candidate": object()},
        probe_reports={},
        has_interpolation=False,
        derived={},
    )
    first = build.suites_report(workspace, source, [])
    second = build.suites_report(workspace, source, [])
    assert calls == {"compare": 1, "slices": 1}
    assert first.sections[slices.SECTION] == second.sections[slices.SECTION] == {"analysis": 1}
    source.evaluations["candidate"] = object()  # another evaluation: derived again
    third = build.suites_report(workspace, source, [])
    assert calls == {"compare": 2, "slices": 2} and third.sections[slices.SECTION] == {"analysis": 2}
