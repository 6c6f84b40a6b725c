"""Registry of small CLIP configurations, kept as JSON beside this module (like open_clip's model_configs/).

Each file `configs/<name>.json` is an open_clip model config: a ViT image tower on 64 px covers, a
transformer text tower over the CLIP BPE vocabulary with a short context length (titles are short).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from harness.errors import ModelError

DEFAULT_TINY = "vit-xs"
TINY_IMAGE_SIZE = 64


@cache
def _read_configs() -> dict[str, dict[str, Any]]:
    # read once per process; callers get deep copies so the cache stays immutable in effect
    folder = resources.files("harness.models").joinpath("configs")
    configs: dict[str, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            configs[entry.name[: -len(".json")]] = json.loads(entry.read_text(encoding="utf-8"))
    return configs


def list_tiny() -> list[str]:
    """Names of the registered tiny configurations, sorted."""
    return sorted(_read_configs())


def get_tiny_config(name: str) -> dict[str, Any]:
    """The open_clip model config of tiny configuration `name` (a fresh copy)."""
    configs = _read_configs()
    if name not in configs:
        raise ModelError(
            f"unknown tiny model {name!r}; registered: {', '.join(sorted(configs))} (see `bookclip models list`)"
        )
    return copy.deepcopy(configs[name])
