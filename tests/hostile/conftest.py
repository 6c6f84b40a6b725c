"""Hostile-input corpus: shared helpers (real files under tmp_path, a private cache, the CLI in a subprocess)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = (
    "image",
    "name",
    "author",
    "format",
    "book_depository_stars",
    "price",
    "currency",
    "old_price",
    "isbn",
    "category",
    "img_paths",
)


def jpeg_bytes(size: tuple[int, int] = (40, 60), colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def row(name: str, img: str, *, category: str = "Health") -> dict:
    return {
        "image": "",
        "name": name,
        "author": "A. Writer",
        "format": "Paperback",
        "book_depository_stars": "4.0",
        "price": "9.99",
        "currency": "$",
        "old_price": "",
        "isbn": "",
        "category": category,
        "img_paths": img,
    }


def write_csv(path: Path, rows: list[dict], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(LAYOUT), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def real_rows(real_bookcovers: Path, category: str, n: int) -> list[dict]:
    with open(real_bookcovers / category / f"{category}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))[:n]


@pytest.fixture
def catalogue_dir(tmp_path: Path, real_bookcovers: Path):
    """make(n, category, titles) copies n real rows and their real JPEGs into tmp_path/cat/<Category>/ and
    returns the catalogue folder (its CSV is <Category>/<Category>.csv); `titles`, when given, replace the
    rows' titles (one row each)."""

    def make(n: int = 12, category: str = "Medical", titles: list[str] | None = None) -> Path:
        root = tmp_path / "cat"
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        rows = real_rows(real_bookcovers, category, len(titles) if titles is not None else n)
        for r, title in zip(rows, titles or [r["name"] for r in rows], strict=True):
            r["name"] = title
            name = Path(r["img_paths"]).name
            (folder / name).write_bytes((real_bookcovers / category / name).read_bytes())
        write_csv(folder / f"{category}.csv", rows)
        return root

    return make


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run_cli(
    *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300, preexec_fn=None
) -> subprocess.CompletedProcess:
    """`python -m harness.cli ARGS` with this checkout's harness first on the path."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "BOOKCLIP_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Exit `code`, no traceback, and a single `bookclip: error:` line naming each needle."""
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("bookclip: error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def hostile():
    return SimpleNamespace(
        jpeg_bytes=jpeg_bytes,
        row=row,
        write_csv=write_csv,
        run_cli=run_cli,
        layout=LAYOUT,
        assert_one_line_error=assert_one_line_error,
        real_rows=real_rows,
    )
