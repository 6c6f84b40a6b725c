"""Item 14: the cache follows XDG_CACHE_HOME (BOOKCLIP_CACHE_DIR still wins); nothing goes to ~/.cache."""

from __future__ import annotations

import pytest

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
    result = hostile.run_cli(
        "eval",
        "--model",
        "tiny:vit-xs",
        "--data",
        str(catalogue_dir(12)),
        "--resamples",
        "100",
        "--no-zero-shot",
        env={"HOME": str(home), "XDG_CACHE_HOME": str(xdg)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((xdg / "bookclip" / "embeddings").glob("*.npz"))
    assert list((xdg / "bookclip" / "images").glob("*.npy"))
    assert not (home / ".cache" / "bookclip").exists()


@pytest.mark.parametrize("variable, folder", [("BOOKCLIP_CACHE_DIR", "a-file"), ("XDG_CACHE_HOME", "a-file")])
def test_a_cache_variable_naming_a_file_fails_first_in_one_line(tmp_path, monkeypatch, capsys, variable, folder):
    """It once failed with a traceback from io.cache_dir after 8-10 s of work."""
    from harness.cli import main

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.delenv("BOOKCLIP_CACHE_DIR", raising=False)
    monkeypatch.setenv(variable, str(tmp_path / folder))
    assert main(["eval", "--model", "fixtures:tiny-baseline", "--data", str(tmp_path / "nowhere.csv")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bookclip: error: {variable}=") and "not a usable cache folder" in line
