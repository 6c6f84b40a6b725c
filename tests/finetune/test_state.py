"""Resumable training-state files: atomic, ordered, pruned, unreadable ones reported."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.errors import CheckpointError
from harness.finetune.state import latest_training_state, list_training_states, load_training_state, save_training_state


def test_latest_is_the_highest_step_and_old_ones_are_pruned(tmp_path: Path) -> None:
    for step in (5, 20, 10):
        save_training_state(tmp_path, step=step, keep=2, model={"w": torch.full((2,), float(step))})
    (tmp_path / ".step-00000099.pt.abc.tmp").write_bytes(b"half a file")  # an interrupted write
    assert [p.name for p in list_training_states(tmp_path)] == ["step-00000010.pt", "step-00000020.pt"]
    latest = latest_training_state(tmp_path)
    state = load_training_state(latest)
    assert state["step"] == 20 and torch.equal(state["model"]["w"], torch.full((2,), 20.0))


def test_missing_directory_has_no_state(tmp_path: Path) -> None:
    assert latest_training_state(tmp_path / "nope") is None


def test_corrupt_state_is_a_checkpoint_error(tmp_path: Path) -> None:
    bad = tmp_path / "step-00000001.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="step-00000001.pt cannot be read"):
        load_training_state(bad)
