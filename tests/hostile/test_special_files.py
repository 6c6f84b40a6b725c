"""Item 5: a FIFO (or other special file) where a cover or a catalogue CSV is expected never hangs.

A cover that is a FIFO is a counted skip ("image not a regular file"); a catalogue CSV that is a FIFO
is a one-line error with exit code 2. The subprocess timeout only guards the test run against the hang.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.data import load_catalogue
from harness.data import load_report as reasons
from harness.errors import DataError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def _fifo_cover(root: Path) -> Path:
    cover = sorted((root / "Medical").glob("*.jpg"))[0]
    cover.unlink()
    os.mkfifo(cover)
    return cover


def test_fifo_cover_is_a_counted_skip(catalogue_dir) -> None:
    root = catalogue_dir(6)
    _fifo_cover(root)
    catalogue, report = load_catalogue(root)
    assert report.skipped == {reasons.SKIP_SPECIAL_FILE: 1}
    assert len(catalogue) == 5


def test_data_validate_with_a_fifo_cover_reports_the_skip(catalogue_dir, hostile) -> None:
    root = catalogue_dir(6)
    _fifo_cover(root)
    result = hostile.run_cli("data", "validate", str(root), "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["report"]["skipped"] == {reasons.SKIP_SPECIAL_FILE: 1}
    strict = hostile.run_cli("data", "validate", str(root), "--strict", timeout=120)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert reasons.SKIP_SPECIAL_FILE in strict.stderr


def test_eval_with_a_fifo_cover_skips_it(catalogue_dir, hostile, fresh_cache) -> None:
    root = catalogue_dir(12)
    _fifo_cover(root)
    result = hostile.run_cli(
        "eval",
        "--model",
        "tiny:vit-xs",
        "--data",
        str(root),
        "--resamples",
        "100",
        "--no-zero-shot",
        "--json",
        env={"BOOKCLIP_CACHE_DIR": str(fresh_cache)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("layout", ["folder", "file", "glob"])
def test_fifo_catalogue_csv_is_a_one_line_error(tmp_path, catalogue_dir, hostile, layout) -> None:
    root = catalogue_dir(4)
    fifo = root / "Health" / "Health.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    target = {"folder": str(root), "file": str(fifo), "glob": str(root / "*" / "*.csv")}[layout]
    with pytest.raises(DataError, match="not a regular file"):
        load_catalogue(target)
    result = hostile.run_cli("data", "validate", target, timeout=120)
    hostile.assert_one_line_error(result, 2, "not a regular file", "Health.csv")
