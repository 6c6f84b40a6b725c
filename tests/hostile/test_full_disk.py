"""A full file system (a real 16 KiB tmpfs, mounted in a private mount namespace) gives one line and
replaces nothing: `report --html` onto it, and Parquet covers written into a cache on it (both once ended
in an ENOSPC traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import load_catalogue, make_fixture_catalogue
from harness.data.parquet import export_parquet
from harness.report.model import RunReport

ROOT = Path(__file__).resolve().parents[2]


def _on_full_disk(tmp_path: Path, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run `command` with a full 16 KiB tmpfs mounted at tmp_path/full (user and mount namespaces)."""
    full = tmp_path / "full"
    full.mkdir()
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {full} || exit 99; "
        f'dd if=/dev/zero of={full}/fill bs=1k count=64 2>/dev/null; exec "$@"'
    )
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )


@pytest.fixture
def namespaces(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: no private tmpfs to fill")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs {tmp_path}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not permitted here: no private tmpfs to fill")


def test_report_html_onto_a_full_disk_is_one_line(namespaces, tmp_path) -> None:
    report = RunReport(kind="eval", name="full-disk").write(tmp_path / "run.json")
    proc = _on_full_disk(
        tmp_path,
        [sys.executable, "-m", "harness.cli", "report", str(report), "--html", str(tmp_path / "full" / "page.html")],
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("bookclip: error: cannot write ")
    assert "No space left on device" in proc.stderr


def test_parquet_covers_into_a_full_cache_are_one_line(namespaces, tmp_path) -> None:
    catalogue = load_catalogue(make_fixture_catalogue(tmp_path / "fx", books_per_category=10))[0]
    folder = export_parquet(catalogue, tmp_path / "pq")
    proc = _on_full_disk(
        tmp_path,
        [sys.executable, "-m", "harness.cli", "data", "validate", str(folder)],
        BOOKCLIP_CACHE_DIR=str(tmp_path / "full" / "cache"),
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr
