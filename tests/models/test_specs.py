from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ModelError
from harness.models import fixtures_dir, load, parse_spec, save_checkpoint


@pytest.mark.parametrize(
    "text, kind, name, seed, tag",
    [
        ("tiny:vit-xs", "tiny", "vit-xs", 0, ""),
        ("tiny:vit-s@17", "tiny", "vit-s", 17, ""),
        ("fixtures:tiny-baseline", "fixtures", "tiny-baseline", 0, ""),
        ("tiny-baseline", "fixtures", "tiny-baseline", 0, ""),
        ("openai:ViT-B/32", "openai", "ViT-B/32", 0, "openai"),
        ("open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip", "ViT-B-32", 0, "laion2b_s34b_b79k"),
        ("checkpoints/ft.safetensors", "file", "", 0, ""),
    ],
)
def test_parse_each_spec_form(text: str, kind: str, name: str, seed: int, tag: str) -> None:
    spec = parse_spec(text)
    assert (spec.kind, spec.name, spec.seed, spec.tag) == (kind, name, seed, tag)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("tiny:", "names no model"),
        ("tiny:vit-xs@x", "tiny:<name>@<seed>"),
        ("open_clip:ViT-B-32", "open_clip:<arch>/<pretrained tag>"),
        ("hub:foo", "unknown model spec scheme"),
    ],
)
def test_malformed_specs_are_one_line_model_errors(text: str, fragment: str) -> None:
    with pytest.raises(ModelError) as info:
        parse_spec(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_unknown_tiny_name_and_missing_file() -> None:
    with pytest.raises(ModelError, match="unknown tiny model 'nope'"):
        load("tiny:nope")
    with pytest.raises(ModelError, match="model file not found: .*missing.safetensors"):
        load("missing.safetensors")


def test_fixtures_dir_is_beside_the_package_unless_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import harness

    monkeypatch.delenv("BOOKCLIP_FIXTURES_DIR", raising=False)
    assert fixtures_dir() == Path(harness.__file__).resolve().parent.parent / "fixtures"
    monkeypatch.setenv("BOOKCLIP_FIXTURES_DIR", str(tmp_path))
    assert fixtures_dir() == tmp_path


def test_missing_baseline_tells_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOOKCLIP_FIXTURES_DIR", str(tmp_path))
    with pytest.raises(ModelError) as info:
        load("fixtures:tiny-baseline")
    message = str(info.value)
    assert "bookclip fixtures build-baseline" in message and "\n" not in message
    assert str(tmp_path / "tiny-baseline.safetensors") in message


def test_baseline_loads_from_the_fixtures_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = load("tiny:vit-xs@2")
    save_checkpoint(
        tmp_path / "tiny-baseline.safetensors",
        source.state_dict(),
        config=source.config,
        metadata={"preprocess": {"interpolation": "bilinear"}},
    )
    monkeypatch.setenv("BOOKCLIP_FIXTURES_DIR", str(tmp_path))
    for spec in ("fixtures:tiny-baseline", "tiny-baseline"):
        model = load(spec)
        assert model.fingerprint == source.fingerprint and model.spec == "fixtures:tiny-baseline"
        assert model.preprocess_config.interpolation == "bilinear"
