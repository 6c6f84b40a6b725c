"""Fingerprint of a model's weights: a hash of names, dtypes, shapes and bytes, and nothing else."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    # flatten then reinterpret as bytes: works for every dtype, bfloat16 included
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().data


def fingerprint_state_dict(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 (hex) over the sorted tensor names with each tensor's dtype, shape and raw bytes.

    Independent of insertion order, device and any metadata; changes when any weight changes.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"state dict entry {name!r} is a {type(tensor).__name__}, not a tensor")
        header = f"{name}\x00{str(tensor.dtype).removeprefix('torch.')}\x00{tuple(tensor.shape)}\x00"
        data = _tensor_bytes(tensor)
        digest.update(len(header).to_bytes(8, "little"))
        digest.update(header.encode("utf-8"))
        digest.update(data.nbytes.to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
