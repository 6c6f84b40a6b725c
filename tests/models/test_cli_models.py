from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.models import list_tiny, load, save_checkpoint


def test_help_documents_every_spec_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for form in (
        "tiny:<name>",
        "@<seed>",
        "fixtures:tiny-baseline",
        "openai:ViT-B/32",
        "open_clip:<arch>/<tag>",
        ".safetensors",
        ".pt",
        "model_state_dict",
        "'state_dict'",
        "weights_only=True",
        "TorchScript",
        "~/.cache/clip",
        "BOOKCLIP_FIXTURES_DIR",
    ):
        assert form in out, form


def test_list_shows_tiny_configs_openai_names_and_where_weights_are_looked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in list_tiny():
        assert f"tiny:{name}" in out
    assert "openai:ViT-B/32" in out and "openai:RN50" in out
    assert ".cache/clip" in out and "fixtures" in out
    assert main(["models", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    params = {entry["spec"]: entry["parameters"] for entry in listing["tiny"]}
    assert params["tiny:vit-xs"] == load("tiny:vit-xs").parameter_count()


def test_info_shows_architecture_parameters_fingerprint_and_metadata(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = load("tiny:vit-xs@3")
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model.state_dict(), config=model.config, metadata={"data_fingerprint": "abc123"})
    assert main(["models", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert model.fingerprint in out and f"{model.parameter_count():,}" in out
    assert "abc123" in out and "embed_dim=64" in out and str(path) in out
    assert main(["models", "info", "--json", "tiny:vit-xs@3"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fingerprint"] == model.fingerprint and info["architecture"]["embed_dim"] == 64
    assert info["weights"] == "none: random init from seed 3"


def test_bad_spec_exits_non_zero_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "info", "nope:thing"]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown model spec scheme" in err
