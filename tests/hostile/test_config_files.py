"""Crafted --bookclip-config files and report folders: one line, before any work (`tool = 5` once gave an
AttributeError, `ks = [inf]` an OverflowError, both an INTERNALERROR under pytest; a report_dir naming a
file let the whole run complete and then wrote no report)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text, message",
    [
        ("tool = 5\n", "`tool` must be a table"),
        ("[tool]\nbookclip = 5\n", r"\[tool.bookclip\] must be a table"),
        ("ks = [inf]\n", "ks must be positive integers"),
        ("ks = [nan]\n", "ks must be positive integers"),
    ],
)
def test_crafted_config_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "bookclip.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(rootdir=tmp_path, config_file=str(path))
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_report_dir_naming_a_file_is_a_usage_error_before_the_run(tmp_path):
    taken = tmp_path / "reports"
    taken.write_text("a file")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--bookclip-report-dir",
            str(taken),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "is not a directory" in proc.stderr and "Traceback" not in proc.stderr
    assert taken.read_text() == "a file"


def test_a_gate_key_with_escape_sequences_is_printed_visibly(tmp_path):
    """The plugin's usage errors once printed a crafted gate key's OSC 8 and clear-screen sequences raw."""
    from harness.plain_text import strip_control

    path = tmp_path / "bookclip.toml"
    path.write_text('[gates]\n"heldout/\\u001b]8;;https://evil\\u001b\\\\x\\u001b[2J/recall@5" = { min = 0.1 }\n')
    with pytest.raises(ConfigError) as info:
        load_config(rootdir=tmp_path, config_file=str(path))
    shown = strip_control(info.value)
    assert "\x1b" not in shown and "\\x1b" in shown
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--bookclip-config",
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 4 and "\x1b" not in proc.stdout + proc.stderr and "\\x1b" in proc.stderr
