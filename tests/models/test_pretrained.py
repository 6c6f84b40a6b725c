from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ModelError
from harness.models.pretrained import (
    OPENAI_RELEASES,
    PretrainedSource,
    fetch_weights,
    find_local,
    host_reachable,
    openai_arch,
    openai_names,
    pretrained_source,
)


def test_openai_table_matches_open_clips_registry() -> None:
    import open_clip

    registry = [n for n in open_clip.list_openai_models() if not n.endswith("-quickgelu")]
    assert sorted(OPENAI_RELEASES) == sorted(registry)
    for arch, (url, repo) in OPENAI_RELEASES.items():
        cfg = open_clip.pretrained.get_pretrained_cfg(arch, "openai")
        assert cfg["url"] == url and cfg["hf_hub"].rstrip("/") == repo and cfg["quick_gelu"]
        source = pretrained_source(arch, "openai")
        assert tuple(source.preprocess["mean"]) == tuple(cfg["mean"])


@pytest.mark.parametrize(
    "name, arch",
    [("ViT-B/32", "ViT-B-32"), ("ViT-L/14@336px", "ViT-L-14-336"), ("RN50", "RN50"), ("ViT-B-16", "ViT-B-16")],
)
def test_openai_names_map_to_open_clip_architectures(name: str, arch: str) -> None:
    assert openai_arch(name) == arch
    assert "ViT-B/32" in openai_names()


def test_unknown_names_and_tags_list_the_alternatives() -> None:
    with pytest.raises(ModelError, match="ViT-B/32"):
        openai_arch("ViT-Z/99")
    with pytest.raises(ModelError, match="laion2b_s34b_b79k"):
        pretrained_source("ViT-B-32", "no-such-tag")
    with pytest.raises(ModelError, match="unknown open_clip architecture"):
        pretrained_source("Not-An-Arch", "openai")


def test_weights_in_the_clip_cache_are_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    source = pretrained_source("ViT-B-32", "openai")
    assert find_local(source) is None
    target = tmp_path / ".cache" / "clip" / "ViT-B-32.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"weights")
    assert find_local(source) == target
    assert fetch_weights(source, spec="openai:ViT-B/32") == target


def test_unreachable_hosts_fail_fast_with_where_to_put_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("BOOKCLIP_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    source = PretrainedSource(
        arch="ViT-B-32",
        tag="openai",
        url="http://127.0.0.1:9/clip/ViT-B-32.pt",
        hf_repo="timm/none",
        hf_filenames=("open_clip_model.safetensors",),
        preprocess={},
        quick_gelu=True,
    )
    with pytest.raises(ModelError) as info:
        fetch_weights(source, spec="openai:ViT-B/32")
    message = str(info.value)
    assert "\n" not in message and "unreachable" in message
    assert str(tmp_path / ".cache" / "clip" / "ViT-B-32.pt") in message


def test_host_probe_says_unreachable() -> None:
    assert host_reachable("http://127.0.0.1:9", timeout=1.0) is False
    assert host_reachable("not a url") is False


def test_openai_offline_is_one_line_on_stderr_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "BOOKCLIP_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "models", "info", "openai:ViT-B/32"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "ViT-B-32.pt" in lines[0] and str(tmp_path / ".cache" / "clip" / "ViT-B-32.pt") in lines[0]
