"""harness.registry: names to entries, lazy references, entry points from other packages, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import ConfigError, ModelError
from harness.registry import Registry


def _distribution(root: Path, name: str, entry_points: str, **modules: str) -> None:
    """A throwaway installed-looking distribution in `root`: its modules and a dist-info with entry points."""
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    dist = root / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def _run(root: Path, script: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_names_entries_and_a_close_name_suggested() -> None:
    registry: Registry[int] = Registry("number", entries={"one": 1, "two": 2})
    registry.register("three", 3)
    assert registry.names() == ["one", "two", "three"] and "two" in registry and "four" not in registry
    assert registry.get("three") == 3 and registry["one"] == 1 and registry.items()[1] == ("two", 2)
    with pytest.raises(ConfigError) as info:
        registry.get("thre")
    assert str(info.value) == "unknown number 'thre'; did you mean 'three'? known: one, two, three"
    with pytest.raises(ConfigError, match="^unknown number 'zzz'; known: one, two, three$"):
        registry.get("zzz")
    with pytest.raises(ConfigError, match="number 'one' is registered already"):
        registry.register("one", 11)
    registry.register("one", 1)  # the same entry again is no conflict
    registry.unregister("one")
    assert registry.names() == ["two", "three"]


def test_a_lazy_entry_is_imported_when_first_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lazy_entry_module.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[int] = Registry("answer", check=lambda v: v if isinstance(v, int) else int(str(v)))
    registry.register("answer", "lazy_entry_module:VALUE")
    assert registry.names() == ["answer"] and "lazy_entry_module" not in sys.modules
    assert registry.get("answer") == 42 and "lazy_entry_module" in sys.modules
    registry.register("broken", "no_such_module_here:thing")
    with pytest.raises(ConfigError, match="answer entry point 'broken' .* failed to load: ModuleNotFoundError") as info:
        registry.get("broken")
    assert "\n" not in str(info.value)


def test_changes_reach_the_caches_built_on_a_registry() -> None:
    registry: Registry[int] = Registry("number")
    seen: list[int] = []
    registry.on_change(lambda: seen.append(len(registry.names())))
    registry.register("a", 1)
    registry.unregister("a")
    registry.unregister("a")  # nothing to remove: no change
    assert seen == [1, 0]


def test_listing_launchers_imports_neither_spark_nor_the_launchers() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from harness.finetune.config import LAUNCHERS, METHODS; "
            "print(LAUNCHERS.names(), METHODS.names(), 'pyspark' in sys.modules, 'torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "['spark-local', 'spark-cluster', 'torchrun', 'inline'] ['plain', 'distill', 'wise'] False False"


def test_a_metric_a_probe_family_and_a_spec_scheme_from_another_package(tmp_path: Path) -> None:
    _distribution(
        tmp_path,
        "bookclip-extras",
        """
        [bookclip.metrics]
        top3_share = extras_metrics:TOP3_SHARE

        [bookclip.probe_families]
        exclaimed = extras_probes:exclaimed

        [bookclip.model_schemes]
        toyhub = extras_schemes:TOYHUB
        """,
        extras_metrics="""
        import numpy as np
        from harness.evaluate.metrics import Metric

        TOP3_SHARE = Metric("top3_share", "top3_share", higher_is_better=True, applies_to="retrieval",
                            test="mcnemar", scale="rate", from_ranks=lambda r: (r <= 3).astype(np.float64))
        """,
        extras_probes="""
        from harness.probes.families import Severity, register_family

        @register_family("exclaimed", severity=Severity.COSMETIC)
        def exclaimed(title, rng, context):
            return title + "!"
        """,
        extras_schemes="""
        from harness.models.null_model import null_model
        from harness.models.specs import ModelSpec, Scheme

        TOYHUB = Scheme("toyhub", lambda text, rest: ModelSpec(text=text, kind="toyhub", name=rest),
                        lambda spec: null_model(spec.text), "toyhub:<name>")
        """,
    )
    out = _run(
        tmp_path,
        """
        import numpy as np
        from harness.evaluate.metrics import metric_key, retrieval_names
        from harness.gates import parse_gates
        from harness.models import load, parse_spec
        from harness.probes.families import families

        key = metric_key("heldout/image_to_text/top3_share")
        print(key.resolved.from_ranks(np.array([1, 3, 4])).tolist(), key.resolved.interval)
        [gate] = parse_gates({"heldout/image_to_text/top3_share": {"min": 0.5}})
        print("top3_share" in retrieval_names((1, 5)), gate.metric)
        print(families(["exclaimed"])[0].apply("Dune"), "exclaimed" in [f.name for f in families()])
        print(parse_spec("toyhub:anything").kind, load("toyhub:anything").spec)
        try:
            parse_spec("toyhb:x")
        except Exception as exc:
            print(exc)
        """,
    )
    assert out == [
        "[1.0, 1.0, 0.0] clopper-pearson",
        "True heldout/image_to_text/top3_share",
        "Dune! True",
        "toyhub toyhub:anything",
        "unknown model spec scheme 'toyhb' in 'toyhb:x'; did you mean 'toyhub'? use one of tiny:, fixtures:, "
        "openai:, open_clip:, null:, toyhub: or a file path",
    ]


def test_the_earlier_probe_family_group_is_still_read(tmp_path: Path) -> None:
    _distribution(
        tmp_path,
        "old-probes",
        "[bookclip.probes]\nshouted = old_probes\n",  # a module holding families
        old_probes="""
        from harness.probes.families import Severity, register_family

        @register_family("shouted", severity=Severity.COSMETIC)
        def shouted(title, rng, context):
            return title.upper()
        """,
    )
    assert _run(tmp_path, "from harness.probes import families; print(families(['shouted'])[0].apply('Dune'))") == [
        "DUNE"
    ]


def test_an_entry_point_that_is_not_what_the_registry_holds_is_one_line(tmp_path: Path) -> None:
    _distribution(
        tmp_path,
        "wrong-things",
        "[bookclip.metrics]\nnot_a_metric = wrong_things:THING\n[bookclip.model_schemes]\nnope = wrong_things:THING\n",
        wrong_things="THING = 3\n",
    )
    out = _run(
        tmp_path,
        """
        from harness.evaluate.metrics import metrics
        from harness.models import parse_spec
        for call in (metrics, lambda: parse_spec("nope:x")):
            try:
                call()
            except Exception as exc:
                print(type(exc).__name__, exc)
        """,
    )
    assert out == [
        "ConfigError metric 'not_a_metric' (wrong_things:THING): 3 is not a harness.evaluate.metrics.Metric; "
        "point the entry point at one",
        "ConfigError model spec scheme 'nope' (wrong_things:THING): 3 is not a harness.models.specs.Scheme; "
        "point the entry point at one",
    ]


def test_an_entry_point_under_a_taken_name_names_its_package(tmp_path: Path) -> None:
    _distribution(tmp_path, "clash", "[bookclip.metrics]\nmrr = clash_metrics:MRR\n", clash_metrics="MRR = None\n")
    out = _run(
        tmp_path,
        """
        from harness.evaluate.metrics import metrics
        try:
            metrics()
        except Exception as exc:
            print(exc)
        """,
    )
    assert out == [
        "metric entry point 'mrr' (clash_metrics:MRR) in bookclip.metrics: metric 'mrr' is registered already; "
        "choose another name"
    ]


def test_a_scheme_s_specs_load_through_the_name_it_is_registered_under() -> None:
    from harness.models.null_model import null_model
    from harness.models.specs import SCHEMES, ModelSpec, Scheme, load, parse_spec, register_scheme

    # the scheme's parse leaves the kind at a name nothing is registered under
    register_scheme(
        Scheme("alias", lambda text, rest: ModelSpec(text=text, kind="other"), lambda s: null_model(s.text))
    )
    try:
        assert parse_spec("alias:x").kind == "alias" and load("alias:x").spec == "alias:x"
    finally:
        SCHEMES.unregister("alias")
    with pytest.raises(ModelError, match="unknown model spec scheme 'alias'"):
        parse_spec("alias:x")
