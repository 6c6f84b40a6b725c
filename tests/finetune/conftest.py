"""Shared pieces of the fine-tuning tests: the generated catalogue and a small, fast run config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.finetune.config import FinetuneConfig


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    from harness.data import fixture_catalogue

    return fixture_catalogue()


@pytest.fixture
def small_config(fixture_dir: Path, tmp_path: Path) -> Callable[..., FinetuneConfig]:
    """A few steps of the random-init tiny model on 64 covers of one category."""

    def make(**overrides: Any) -> FinetuneConfig:
        values: dict[str, Any] = dict(
            data=(str(fixture_dir),),
            out=str(tmp_path / "run"),
            categories=("Medical",),
            baseline="tiny:vit-xs",
            max_train_rows=64,
            batch_size=16,
            max_steps=4,
            lr=1e-3,
            warmup_steps=1,
            precision="fp32",
            launcher="inline",
            checkpoint_every=0,
        )
        values.update(overrides)
        return FinetuneConfig.from_dict(values)

    return make
