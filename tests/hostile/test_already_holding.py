"""Cases that already held before issue 13, kept in the corpus: path traversal forms never open a file
outside the image root, spec strings with shell metacharacters are never run, and two evaluations at
once on one cache agree and leave no temporary file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import load_catalogue
from harness.data import load_report as reasons

TRAVERSALS = [
    "../../outside/secret.jpg",
    "dataset/../../outside/secret.jpg",
    "dataset/Medical/../../../outside/secret.jpg",
    "dataset\\..\\..\\outside\\secret.jpg",
    "C:\\outside\\secret.jpg",
    "~/secret.jpg",
    "//outside/secret.jpg",
    "dataset/Medical/link-out.jpg",
    "dataset/Medical/%2e%2e/%2e%2e/outside/secret.jpg",
]


def test_traversal_forms_are_refused_before_any_open(tmp_path, catalogue_dir, hostile) -> None:
    root = catalogue_dir(3)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.jpg"
    os.mkfifo(secret)  # opened, it would be "not a regular file"; refused first, it is "escapes"
    os.symlink(secret, root / "Medical" / "link-out.jpg")
    base = [dict(r) for r in _rows(root, hostile)]
    extra = [
        hostile.row(f"Traversal {i}", form, category="Medical") for i, form in enumerate(TRAVERSALS + [str(secret)])
    ]
    csv_path = hostile.write_csv(root / "Medical" / "Medical.csv", base + extra)
    catalogue, report = load_catalogue(csv_path)
    assert len(catalogue) == len(base)
    skipped = dict(report.skipped)
    assert reasons.SKIP_SPECIAL_FILE not in skipped  # nothing outside the root was opened
    assert skipped.pop(reasons.SKIP_PATH_ESCAPES) + skipped.pop(reasons.SKIP_MISSING_IMAGE, 0) == len(extra)
    assert skipped == {}


def _rows(root: Path, hostile) -> list[dict]:
    import csv

    with open(root / "Medical" / "Medical.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    "spec",
    [
        "tiny:vit-xs; touch PWNED",
        "$(touch PWNED)",
        "`touch PWNED`",
        "tiny:vit-xs | touch PWNED",
        "tiny:vit-xs && touch PWNED",
        "open_clip:$(touch PWNED)/x",
    ],
)
def test_spec_strings_with_shell_metacharacters_are_not_run(tmp_path, hostile, spec) -> None:
    result = hostile.run_cli("models", "info", spec, cwd=tmp_path, timeout=180)
    hostile.assert_one_line_error(result, 2)
    assert not (tmp_path / "PWNED").exists()


def test_two_evaluations_at_once_on_one_cache(tmp_path, catalogue_dir, fresh_cache) -> None:
    data = catalogue_dir(30)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "BOOKCLIP_CACHE_DIR": str(fresh_cache),
        "BOOKCLIP_NO_PROGRESS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "eval",
        "--model",
        "tiny:vit-xs",
        "--data",
        str(data),
        "--resamples",
        "100",
        "--no-zero-shot",
        "--json",
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-1000:] for o in outputs]
    metrics = [json.loads(out)["metrics"] for out, _ in outputs]
    assert metrics[0] == metrics[1]
    assert [p for p in fresh_cache.rglob("*") if p.name.endswith(".tmp")] == []
