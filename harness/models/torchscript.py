"""Read the weights of a TorchScript archive (OpenAI's CLIP .pt files) without running anything in it.

`torch.jit.load` executes the archive's code and `torch.load(weights_only=True)` refuses TorchScript,
so this reads the archive's `data.pkl` with an unpickler that admits only tensor rebuilding, storages
and inert stand-ins for the archive's `__torch__` classes. Which attributes are parameters or buffers
is read as text from the class declarations under `code/` (`__parameters__ = [...]`); nothing there is
executed. Any other global in the pickle is refused.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from harness.errors import CheckpointError

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ScriptObject:
    """Inert stand-in for one object of a TorchScript class: its qualified name and pickled state."""

    qualified_name = "__torch__.?"

    def __init__(self) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._classes: dict[str, type] = {}
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> object:
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self._classes:
                self._classes[qualified] = type(name, (ScriptObject,), {"qualified_name": qualified})
            return self._classes[qualified]
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a weights file")

    def persistent_load(self, pid: object) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent id {str(pid)[:80]}")
        storage_type, key = pid[1], str(pid[2])
        if key not in self._storages:
            try:
                raw = self._archive.read(f"{self._prefix}/data/{key}")
            except KeyError as exc:
                raise pickle.UnpicklingError(f"tensor data record {key!r} is missing") from exc
            flat = (
                torch.frombuffer(bytearray(raw), dtype=storage_type.dtype)
                if raw
                else torch.empty(0, dtype=storage_type.dtype)
            )
            self._storages[key] = flat
        return self._storages[key]


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError("tensor record without storage")
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _rebuild_parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def archive_prefix(names: list[str]) -> str | None:
    """The archive's top folder if `names` (a zip listing) look like a TorchScript archive, else None."""
    for name in names:
        parts = name.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl":
            prefix = parts[0]
            if any(n.startswith(f"{prefix}/code/") for n in names) or f"{prefix}/constants.pkl" in names:
                return prefix
    return None


_CLASS_DECL = re.compile(
    r"^class (\w+)\([\w.]+\):\s*\n\s*__parameters__ = \[([^\]]*)\]\s*\n\s*__buffers__ = \[([^\]]*)\]", re.MULTILINE
)


def _declared_tensors(
    archive: zipfile.ZipFile, prefix: str, qualified: str, cache: dict[str, dict[str, list[str]]]
) -> list[str] | None:
    """Parameter and buffer names that class `qualified` declares, or None when its code is absent."""
    module, _, cls = qualified.rpartition(".")
    if module not in cache:
        declared: dict[str, list[str]] = {}
        try:
            text = archive.read(f"{prefix}/code/{module.replace('.', '/')}.py").decode("utf-8", "replace")
        except KeyError:
            text = ""
        for match in _CLASS_DECL.finditer(text):
            names = re.findall(r'"([^"]+)"', match.group(2)) + re.findall(r'"([^"]+)"', match.group(3))
            declared[match.group(1)] = names
        cache[module] = declared
    return cache[module].get(cls)


def read_torchscript_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict (parameters and buffers, dotted names) of a TorchScript archive, read safely."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = archive_prefix(archive.namelist())
            if prefix is None:
                raise CheckpointError(f"{path}: not a TorchScript archive (no data.pkl with code/)")
            unpickler = _RestrictedUnpickler(archive.read(f"{prefix}/data.pkl"), archive, prefix)
            root = unpickler.load()
            declarations: dict[str, dict[str, list[str]]] = {}
            state_dict: dict[str, torch.Tensor] = {}
            _collect(root, "", archive, prefix, declarations, state_dict)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused TorchScript archive: {exc}; nothing in it was run. "
            "Only archives of plain weights are read"
        ) from exc
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: cannot read TorchScript archive ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); the file is damaged or truncated"
        ) from exc
    if not state_dict:
        raise CheckpointError(f"{path}: TorchScript archive holds no tensors")
    return state_dict


def _collect(
    obj: Any,
    prefix: str,
    archive: zipfile.ZipFile,
    root: str,
    declarations: dict[str, dict[str, list[str]]],
    out: dict[str, torch.Tensor],
) -> None:
    if not isinstance(obj, ScriptObject) or not isinstance(obj.state, dict):
        return
    declared = _declared_tensors(archive, root, obj.qualified_name, declarations)
    for name, value in obj.state.items():
        if isinstance(value, torch.Tensor):
            # without the class declaration, take every tensor attribute
            if declared is None or name in declared:
                out[prefix + name] = value
        elif isinstance(value, ScriptObject):
            _collect(value, f"{prefix}{name}.", archive, root, declarations, out)
