"""Weights from `.pt`/`.bin` files made by others: OpenAI, open_clip training, the original write-up.

Every pickle is read with `torch.load(weights_only=True)`: a file that needs arbitrary code to
unpickle is refused and nothing in it runs. TorchScript archives (OpenAI's releases) are read by
`harness.models.torchscript`, which never executes them either.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.errors import CheckpointError
from harness.models.torchscript import archive_prefix, read_torchscript_state_dict

# wrappers that training code puts around parameter names
_NAME_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class ForeignWeights:
    """A state dict read from a foreign file and the layout it came in."""

    state_dict: dict[str, torch.Tensor]
    layout: str  # "torchscript", "write-up", "open_clip-training", "state-dict"


def read_torch_file(path: str | Path) -> tuple[Any, str]:
    """The object stored in `path` and how it was stored ("torchscript" or "pickle"), read safely."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}; check the path")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                is_script = archive_prefix(archive.namelist()) is not None
        except (zipfile.BadZipFile, OSError):
            is_script = False
        if is_script:
            return read_torchscript_state_dict(path), "torchscript"
    try:
        return torch.load(path, map_location="cpu", weights_only=True), "pickle"
    except pickle.UnpicklingError as exc:
        match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f"global {match.group(1)}" if match else "code outside plain tensors and containers"
        raise CheckpointError(
            f"{path}: refused to load: unpickling it needs {what}, which could run arbitrary code "
            "(nothing in it was run); re-save it with torch.save(model.state_dict()) or as safetensors"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - random bytes make the unpickler raise IndexError, TypeError...
        raise CheckpointError(
            f"{path}: cannot read it as a PyTorch checkpoint ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); the file is damaged, truncated or "
            "not a checkpoint"
        ) from exc


def extract_state_dict(obj: Any, *, source: str, stored_as: str = "pickle") -> ForeignWeights:
    """The model state dict inside a loaded checkpoint object, whatever wrapper it came in.

    Accepts a bare state dict, open_clip training checkpoints ({'state_dict': ...}) and the original
    write-up's {'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss'}; strips DDP/compile prefixes.
    """
    if stored_as == "torchscript":
        layout = "torchscript"
    elif isinstance(obj, Mapping) and isinstance(obj.get("model_state_dict"), Mapping):
        obj, layout = obj["model_state_dict"], "write-up"
    elif isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj, layout = obj["state_dict"], "open_clip-training"
    else:
        layout = "state-dict"
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            f"{source}: holds a {type(obj).__name__}, not a state dict of tensors; "
            "save the model with torch.save(model.state_dict())"
        )
    state_dict: dict[str, torch.Tensor] = {}
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{source}: entry {name!r} is a {type(value).__name__}, not a tensor; "
                "the file is not a model state dict"
            )
        state_dict[str(name)] = value
    for wrapper in _NAME_PREFIXES:
        if all(name.startswith(wrapper) for name in state_dict):
            state_dict = {name[len(wrapper) :]: value for name, value in state_dict.items()}
    return ForeignWeights(state_dict=state_dict, layout=layout)


def read_foreign_weights(path: str | Path) -> ForeignWeights:
    """read_torch_file + extract_state_dict."""
    obj, stored_as = read_torch_file(path)
    return extract_state_dict(obj, source=str(path), stored_as=stored_as)
