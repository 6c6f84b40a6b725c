"""Our checkpoint format: a safetensors file whose header metadata holds the architecture and provenance.

Header metadata (all strings, as safetensors requires):
    bookclip_format  "1"
    config           JSON: the open_clip model config the weights belong to
    metadata         JSON: parent fingerprint, training config, data fingerprint, library versions, created_at, ...
    fingerprint      fingerprint_state_dict() of the stored tensors, checked again on load
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.errors import CheckpointError
from harness.io import atomic_path
from harness.models.fingerprint import fingerprint_state_dict

FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Checkpoint:
    """Weights plus the config and metadata read from one checkpoint file."""

    state_dict: dict[str, torch.Tensor] = field(repr=False)
    config: dict[str, Any]
    metadata: dict[str, Any]
    fingerprint: str


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a checkpoint's meaning."""
    import open_clip
    import safetensors

    from harness import __version__

    return {
        "bookclip": __version__,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "safetensors": safetensors.__version__,
    }


def _storable(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses non-contiguous and storage-sharing tensors; give each its own contiguous copy
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"cannot save {name!r}: a {type(tensor).__name__}, not a tensor")
        t = tensor.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[name] = t
    return out


def save_checkpoint(
    path: str | os.PathLike[str],
    state_dict: Mapping[str, torch.Tensor],
    *,
    config: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write `state_dict` as safetensors with `config` and `metadata` in the header, atomically.

    `library_versions` and `created_at` (UTC, ISO 8601) are filled in unless `metadata` gives them.
    Metadata values must be JSON-serialisable.
    """
    from safetensors.torch import save_file

    tensors = _storable(state_dict)
    meta: dict[str, Any] = {
        "library_versions": library_versions(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(dict(metadata or {}))
    try:
        header = {
            "bookclip_format": FORMAT_VERSION,
            "config": json.dumps(dict(config), sort_keys=True),
            "metadata": json.dumps(meta, sort_keys=True, default=str),
            "fingerprint": fingerprint_state_dict(tensors),
        }
    except TypeError as exc:
        raise CheckpointError(f"cannot save {path}: config is not JSON-serialisable ({exc})") from exc
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def read_header(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors header metadata of `path` (empty for files not written by us), without reading tensors."""
    from safetensors import safe_open

    path = Path(path)
    _require_file(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({_one_line(exc)}); "
            "the file is damaged or truncated, re-create or re-download it"
        ) from exc


def read_tensor_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors file, from its header alone (no tensor is read)."""
    from safetensors import safe_open

    path = Path(path)
    _require_file(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {name: tuple(int(n) for n in handle.get_slice(name).get_shape()) for name in handle.keys()}
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({_one_line(exc)}); "
            "the file is damaged or truncated, re-create or re-download it"
        ) from exc


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file on CPU, with damage reported as CheckpointError."""
    from safetensors.torch import load_file

    path = Path(path)
    _require_file(path)
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({_one_line(exc)}); "
            "the file is damaged or truncated, re-create or re-download it"
        ) from exc


def is_bookclip_checkpoint(header: Mapping[str, str]) -> bool:
    return "bookclip_format" in header and "config" in header


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read one of our checkpoints; the stored fingerprint is verified against the tensors read."""
    path = Path(path)
    header = read_header(path)
    if not is_bookclip_checkpoint(header):
        raise CheckpointError(
            f"{path}: a safetensors file without bookclip metadata (no 'config' in its header); "
            "load it as a model spec (`harness.models.load`) to infer the architecture"
        )
    if header["bookclip_format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {header['bookclip_format']!r} is not supported "
            f"(this bookclip reads format {FORMAT_VERSION}); upgrade bookclip"
        )
    config, metadata = parse_header(path, header)
    state_dict = load_safetensors(path)
    fingerprint = fingerprint_state_dict(state_dict)
    recorded = header.get("fingerprint")
    if recorded and recorded != fingerprint:
        raise CheckpointError(
            f"{path}: weights do not match the fingerprint recorded at save time "
            f"({recorded[:12]} vs {fingerprint[:12]}); the file is damaged, re-create it"
        )
    return Checkpoint(state_dict=state_dict, config=config, metadata=metadata, fingerprint=fingerprint)


def parse_header(path: str | os.PathLike[str], header: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (config, metadata) objects of a bookclip header; CheckpointError unless both are JSON objects."""
    try:
        config = json.loads(header["config"])
        metadata = json.loads(header.get("metadata", "{}"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(
            f"{path}: header metadata is not valid JSON ({_one_line(exc)}); the file is damaged"
        ) from None
    for name, value in (("config", config), ("metadata", metadata)):
        if not isinstance(value, dict):
            raise CheckpointError(
                f"{path}: header {name!r} is a JSON {type(value).__name__}, not an object; "
                "the file was not written by bookclip or is damaged, re-create it"
            )
    for tower in ("vision_cfg", "text_cfg"):
        if tower in config and not isinstance(config[tower], dict):
            raise CheckpointError(
                f"{path}: config {tower!r} is a JSON {type(config[tower]).__name__}, "
                "not an object; the checkpoint's config is damaged"
            )
    return config, metadata


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}; check the path")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
