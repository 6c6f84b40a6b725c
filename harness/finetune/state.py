"""Resumable training state: model, optimiser, scheduler, scaler, step and every rank's RNG.

Files are `step-00000042.pt` under the run's checkpoints/ directory, written atomically by
rank 0; the newest complete one is the resume point. They are trusted files written by this
module (they hold RNG tuples), unlike model checkpoints, which are safetensors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from harness.errors import CheckpointError
from harness.io import atomic_path

_NAME = re.compile(r"^step-(\d{8})\.pt$")


def state_path(directory: Path, step: int) -> Path:
    return Path(directory) / f"step-{step:08d}.pt"


def list_training_states(directory: str | Path) -> list[Path]:
    """Complete state files in step order (temp files of an interrupted write are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]


def latest_training_state(directory: str | Path) -> Path | None:
    states = list_training_states(directory)
    return states[-1] if states else None


def save_training_state(directory: str | Path, *, step: int, keep: int, **state: Any) -> Path:
    """Write step `step`'s state atomically, then prune all but the newest `keep` files."""
    path = state_path(Path(directory), step)
    with atomic_path(path) as tmp:
        torch.save({"step": step, **state}, tmp)
    for old in list_training_states(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_training_state(path: str | Path) -> dict[str, Any]:
    try:
        # tensors, numbers and plain containers only: a crafted file cannot run code on resume
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        return state
    except Exception as exc:
        raise CheckpointError(
            f"training state {path} cannot be read ({type(exc).__name__}: {exc}); "
            "delete it to resume from the previous one"
        ) from None


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA on a GPU `device`) RNG states.

    Plain tuples and tensors only, so the state file loads with torch.load(weights_only=True).
    """
    import random

    import numpy as np

    name, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = (
        str(name),
        torch.from_numpy(np.asarray(keys).astype(np.int64)),
        int(pos),
        int(has_gauss),
        float(gauss),
    )
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what rng_state() returned."""
    import random

    import numpy as np

    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
