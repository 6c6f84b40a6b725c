"""Options that contradict or point nowhere are refused in one line before any work: `--resume` with
`--overwrite` (once silently resumed), `calibrate --aa --root` that is not a directory (once fell back
to the default recipe and started a long fine-tune)."""

from __future__ import annotations

import pytest

from harness.cli import main


def test_resume_and_overwrite_together_are_refused(capsys, tmp_path):
    assert main(["finetune", "--resume", "--overwrite", "--out", str(tmp_path / "run")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "resume and overwrite contradict each other" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("root", ["missing", "file.txt"])
def test_calibrate_root_must_be_a_directory(capsys, tmp_path, root):
    (tmp_path / "file.txt").write_text("not a project")
    assert main(["calibrate", "--aa", "2", "--root", str(tmp_path / root)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "not an existing directory" in line
