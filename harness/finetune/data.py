"""The rows a fine-tuning run trains on, derived the same way by the driver, every worker and
the evaluation: load the catalogue, split it by group with the run's seed, optionally cap it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.data import Catalogue, Splits
    from harness.finetune.config import FinetuneConfig


def run_splits(cfg: FinetuneConfig) -> Splits:
    """train / heldout / cross (/ replay) views of the run's catalogue, deterministic from `cfg.seed`."""
    from harness.data import load_catalogue, split

    catalogue, _report = load_catalogue(list(cfg.data), image_root=cfg.image_root)
    return split(
        catalogue,
        train_categories=list(cfg.categories),
        heldout_fraction=cfg.heldout_fraction,
        seed=cfg.seed,
        replay_fraction=cfg.replay_fraction,
    )


def training_rows(cfg: FinetuneConfig) -> Catalogue:
    """The rows a run trains on (see harness.data.split.rows_trained_on)."""
    from harness.data.split import rows_trained_on

    return rows_trained_on(run_splits(cfg), cfg.max_train_rows, cfg.seed, validation_fraction=cfg.validation_share)


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Optimiser steps in one epoch; the same for any number of processes dividing the batch."""
    return rows // batch_size


def planned_steps(cfg: FinetuneConfig, rows: int) -> int:
    return cfg.max_steps or cfg.epochs * steps_per_epoch(rows, cfg.batch_size)


def category_prompt_rows(rows: int, fraction: float, seed: int, epoch: int) -> np.ndarray:
    """Bool (rows,): the round(fraction * rows) training rows captioned with their category's prompt in
    `epoch`; a seeded draw, a different one each epoch, so every book keeps its title most epochs."""
    pick = np.zeros(rows, dtype=bool)
    count = int(round(fraction * rows))
    if count:
        pick[np.random.default_rng([seed, epoch, 0xCA7]).permutation(rows)[:count]] = True
    return pick
