"""Fine-tuning: a config, one training function run by every worker (`train.main`), and launchers
(TorchDistributor local or cluster, torchrun, inline) whose result the driver verifies."""

from __future__ import annotations

from harness.finetune.config import LAUNCHERS, FinetuneConfig
from harness.finetune.launch import Manifest, launch, verify_manifest

__all__ = ["FinetuneConfig", "LAUNCHERS", "Manifest", "launch", "verify_manifest"]
