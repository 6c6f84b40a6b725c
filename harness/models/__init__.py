"""Models: specs -> loaded CLIP models, tiny configs, checkpoint IO (safetensors), weight fingerprints.

Names are imported on first use, so that `import harness.models` (and a spec that fails early, such as
missing published weights offline) does not pay for importing torch and open_clip.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "build_model": "build",
    "load_weights": "build",
    "Checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "ClipModel": "clip_model",
    "PreprocessConfig": "clip_model",
    "fingerprint_state_dict": "fingerprint",
    "ModelSpec": "specs",
    "SCHEMES": "specs",
    "Scheme": "specs",
    "register_scheme": "specs",
    "fixtures_dir": "specs",
    "load": "specs",
    "parse_spec": "specs",
    "DEFAULT_TINY": "tiny",
    "TINY_IMAGE_SIZE": "tiny",
    "get_tiny_config": "tiny",
    "list_tiny": "tiny",
}

# spelled out (it equals sorted(_EXPORTS)) so that linters see the TYPE_CHECKING imports as re-exports
__all__ = [
    "Checkpoint",
    "ClipModel",
    "DEFAULT_TINY",
    "ModelSpec",
    "PreprocessConfig",
    "SCHEMES",
    "Scheme",
    "TINY_IMAGE_SIZE",
    "build_model",
    "fingerprint_state_dict",
    "fixtures_dir",
    "get_tiny_config",
    "list_tiny",
    "load",
    "load_checkpoint",
    "load_weights",
    "parse_spec",
    "register_scheme",
    "save_checkpoint",
]

if TYPE_CHECKING:
    from harness.models.build import build_model, load_weights
    from harness.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from harness.models.clip_model import ClipModel, PreprocessConfig
    from harness.models.fingerprint import fingerprint_state_dict
    from harness.models.specs import SCHEMES, ModelSpec, Scheme, fixtures_dir, load, parse_spec, register_scheme
    from harness.models.tiny import DEFAULT_TINY, TINY_IMAGE_SIZE, get_tiny_config, list_tiny


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"harness.models.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
