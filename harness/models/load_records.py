"""What loading a checkpoint file found, remembered by the file's stats, so that loading it again builds nothing.

A bookclip checkpoint's fingerprint and tokenizer description are what its embedding-cache keys need;
computing them means reading every tensor, building the model and importing open_clip (seconds on a warm
`pytest suites/` whose numbers all come from the caches). After one full load they are recorded under
cache_dir()/models, keyed by the file's path, size, mtime, ctime, inode and device, the header's own
save-time fingerprint and the versions of the code that built the model. Any of those changing is a miss,
and the next load is a full one again. A file rewritten in place within one timestamp tick keeping its
size and header is the one change stats cannot see: building the model checks the weights against the
recorded fingerprint (ClipModel.module), so nothing computed from the weights can be another model's.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from harness.errors import BookclipError
from harness.io import atomic_write_json, cache_dir, sha256_hex

RECORD_VERSION = "load-record-v1"  # bump when what a load derives from a file changes


@functools.cache
def _code_versions() -> str:
    # the model classes, tokenizer and fingerprint come from these; an upgrade re-derives everything
    import importlib.metadata

    import torch

    import harness

    try:
        open_clip = importlib.metadata.version("open_clip_torch")
    except importlib.metadata.PackageNotFoundError:
        open_clip = "unknown"
    return f"bookclip {harness.__version__}; torch {torch.__version__}; open_clip {open_clip}"


def _record_path(path: Path) -> Path:
    return cache_dir() / "models" / f"{sha256_hex(str(path))[:32]}.json"


def _key(path: Path, header_fingerprint: str) -> str:
    st = path.stat()
    stats = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    return sha256_hex(RECORD_VERSION, str(path), json.dumps(stats), header_fingerprint, _code_versions())


def recall(path: str | os.PathLike[str], header_fingerprint: str) -> dict[str, Any] | None:
    """The record of an earlier full load of this very file, or None (never recorded, or changed since)."""
    resolved = Path(path).resolve()
    try:
        record = json.loads(_record_path(resolved).read_text(encoding="utf-8"))
        key = _key(resolved, header_fingerprint)
    except (OSError, ValueError, BookclipError):  # none, unreadable, or no usable cache folder: load in full
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    if not isinstance(record.get("fingerprint"), str) or not isinstance(record.get("tokenizer"), dict):
        return None
    return record


def remember(
    path: str | os.PathLike[str], header_fingerprint: str, *, fingerprint: str, tokenizer: dict[str, Any]
) -> None:
    """Record a full load's results for `recall` (best effort: a cache folder that cannot be written only
    means the next load is a full one too)."""
    resolved = Path(path).resolve()
    try:
        atomic_write_json(
            _record_path(resolved),
            {"key": _key(resolved, header_fingerprint), "fingerprint": fingerprint, "tokenizer": tokenizer},
        )
    except (OSError, BookclipError):
        return
