"""Mapping a CSV's `img_paths` onto an image root, refusing anything that would leave the root.

`dataset/<Category>/NNNNNNN.jpg` loses its first component and is resolved under the root
(by default the parent of the CSV's directory). Absolute paths, `..` escapes and symlinks
out of the root are refused from the path alone, before any file is opened.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath


def default_image_root(csv_path: Path) -> Path:
    """Parent of the CSV's directory: <root>/<Category>/<Category>.csv -> <root>."""
    return csv_path.resolve().parent.parent


def relative_image_path(img_paths: str) -> str | None:
    """`img_paths` without its first component, POSIX separators; None when absolute."""
    text = img_paths.strip().replace("\\", "/")
    if not text:
        return None
    if text.startswith(("/", "~")) or PurePosixPath(text).is_absolute() or PureWindowsPath(img_paths.strip()).drive:
        return None
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts) if parts else None


def resolve_under_root(img_paths: str, root: Path) -> Path | None:
    """Absolute, symlink-free path of the image inside `root`, or None when it would escape the root.

    `root` must already be resolved (os.path.realpath). Only path strings and links are inspected.
    """
    relative = relative_image_path(img_paths)
    if relative is None:
        return None
    root_text = os.fspath(root)
    candidate = os.path.realpath(os.path.join(root_text, relative))
    if os.path.commonpath([root_text, candidate]) != root_text or candidate == root_text:
        return None
    return Path(candidate)
