"""Small file-system helpers shared by every module: atomic writes, hashing, cache location."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Root of bookclip's on-disk caches: $BOOKCLIP_CACHE_DIR, else $XDG_CACHE_HOME/bookclip, else
    ~/.cache/bookclip (the XDG base-directory convention: a relative XDG_CACHE_HOME is ignored). A folder
    that cannot be created or written is one ConfigError naming the variable it came from."""
    root = os.environ.get("BOOKCLIP_CACHE_DIR")
    xdg = os.environ.get("XDG_CACHE_HOME")
    if root:
        path, source = Path(root).expanduser(), f"BOOKCLIP_CACHE_DIR={root!r}"
    elif xdg and os.path.isabs(xdg):
        path, source = Path(xdg) / "bookclip", f"XDG_CACHE_HOME={xdg!r}"
    else:
        path, source = Path.home() / ".cache" / "bookclip", "the default cache folder"
    try:
        path.mkdir(parents=True, exist_ok=True)
        writable = os.access(path, os.W_OK | os.X_OK)
    except OSError as exc:
        writable, why = False, exc.strerror or type(exc).__name__
    else:
        why = "not writable"
    if not writable:
        from harness.errors import ConfigError

        raise ConfigError(f"{source}: {path} is not a usable cache folder ({why}); point it at a writable directory")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one step.

    Readers never see a half-written file, and a failure leaves the old file (or none).
    """
    target = Path(path)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; the result is an ordinary file
        os.replace(tmp_path, target)
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            raise
        from harness.errors import WriteError

        raise WriteError(
            exc.errno,
            exc.strerror,
            f"cannot write {target}: {exc.strerror}; free some space there or write elsewhere (nothing was replaced)",
        ) from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)  # the disk, not the program


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_hex(*parts: bytes | str) -> str:
    """Hash of the concatenated parts (strings as UTF-8), each length-prefixed so joins are unambiguous."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
