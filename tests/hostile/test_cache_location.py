"""Item 14: the cache follows XDG_CACHE_HOME (BOOKCLIP_CACHE_DIR still wins); nothing goes to ~/.cache."""
from __future__ import annotations

import os
from pathlib import Path

from harness.io import cache_dir


def test_cache_dir_order(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BOOKCLIP_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "bookclip"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "bookclip"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the spec says: ignore relative paths
    assert cache_dir() == tmp_path / "home" / ".cache" / "bookclip"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"


def test_eval_writes_its_caches_under_xdg_cache_home(tmp_path, catalogue_dir, hostile, monkeypatch) -> None:
    monkeypatch.delenv("BOOKCLIP_CACHE_DIR", raising=False)
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    result = hostile.run_cli("eval", "--model", "tiny:vit-xs", "--data", str(catalogue_dir(12)), "--resamples", "100",
                             "--no-zero-shot", env={"HOME": str(home), "XDG_CACHE_HOME": str(xdg)}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((xdg / "bookclip" / "embeddings").glob("*.npz"))
    assert list((xdg / "bookclip" / "images").glob("*.npy"))
    assert not (home / ".cache" / "bookclip").exists()
