"""`bookclip fixtures make` and `build-baseline` through the real parser."""

from __future__ import annotations

import sys

from harness.cli import main


def test_make_twice_gives_byte_identical_csvs(tmp_path, capsys):
    for name in ("one", "two"):
        assert main(["fixtures", "make", str(tmp_path / name), "--seed", "7", "--books-per-category", "15"]) == 0
    assert "bookclip data validate" in capsys.readouterr().out
    csvs = sorted((tmp_path / "one").glob("*/*.csv"))
    assert len(csvs) >= 6
    for path in csvs:
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
    assert main(["data", "validate", str(tmp_path / "one"), "--strict"]) == 0


def test_make_refuses_a_foreign_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["fixtures", "make", str(tmp_path)]) == 2
    assert "choose a new or empty directory" in capsys.readouterr().err


def test_build_baseline_without_the_builder_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "harness.finetune.baseline", None)  # import of it fails
    assert main(["fixtures", "build-baseline", "--out", str(tmp_path / "b.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "baseline builder is unavailable" in err
    assert not (tmp_path / "b.safetensors").exists()
