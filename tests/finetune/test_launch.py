"""Launchers and the driver's checks: torchrun with 2 processes, a failing worker, a tampered result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.errors import FinetuneError
from harness.finetune.launch import launch, resolve, verify_manifest
from harness.finetune.runlog import RunFiles
from harness.models import load, load_checkpoint

pytestmark = pytest.mark.slow  # every test starts worker processes and trains a few steps


def test_torchrun_two_processes_train_like_one(small_config, tmp_path: Path) -> None:
    # the gathered loss makes 2 processes x 2 micro-batches x 4 items the same optimisation as
    # 1 process x 2 micro-batches x 8 items (accumulation exercises DDP's no_sync path)
    two = launch(
        small_config(out=str(tmp_path / "two"), launcher="torchrun", num_processes=2, grad_accum=2, max_steps=3)
    )
    one = launch(small_config(out=str(tmp_path / "one"), grad_accum=2, max_steps=3))
    assert two.world_size == 2 and two.steps == 3
    a, b = load_checkpoint(two.checkpoint).state_dict, load_checkpoint(one.checkpoint).state_dict
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    assert two.final_loss == pytest.approx(one.final_loss, abs=1e-4)
    manifests = [json.loads(p.read_text()) for p in sorted((tmp_path / "two" / "logs").glob("manifest-rank*.json"))]
    assert len(manifests) == 2 and manifests[0] == manifests[1]


def test_torchrun_worker_error_is_one_line_and_leaves_no_model(small_config) -> None:
    cfg = small_config(launcher="torchrun", num_processes=2, fail_at_step=2, fail_rank=1)
    with pytest.raises(FinetuneError) as info:
        launch(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert "rank 1 failed: FinetuneError: injected failure on rank 1 before step 2" in message
    assert not RunFiles(resolve(cfg).out).model.exists()


def test_driver_rejects_a_manifest_that_does_not_match_the_file(small_config) -> None:
    cfg = small_config(max_steps=2)
    manifest = launch(cfg)
    files = RunFiles(resolve(cfg).out)
    good = json.loads(files.manifest.read_text())
    assert verify_manifest(good, files, expected_steps=2) == good
    with pytest.raises(FinetuneError, match="3 were asked"):
        verify_manifest(good, files, expected_steps=3)
    with pytest.raises(FinetuneError, match="differs from rank 0"):
        verify_manifest({**good, "fingerprint": "0" * 64}, files, expected_steps=2)
    files.write_manifest({**good, "fingerprint": "0" * 64})
    with pytest.raises(FinetuneError, match="fingerprint .* is not the manifest's 000000000000"):
        verify_manifest({**good, "fingerprint": "0" * 64}, files, expected_steps=2)
    with pytest.raises(FinetuneError, match="not a manifest"):
        verify_manifest(None, files, expected_steps=2)
    # the original write-up's bug: a driver that saves its own (untrained) model; the fingerprint catches it
    assert load(manifest.checkpoint).fingerprint != load("tiny:vit-xs").fingerprint
    assert torch.is_tensor(load_checkpoint(manifest.checkpoint).state_dict["logit_scale"])
