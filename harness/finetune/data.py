"""The rows a fine-tuning run trains on, derived the same way by the driver, every worker and
the evaluation: load the catalogue, split it by group with the run's seed, optionally cap it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.data import Catalogue, Splits
    from harness.finetune.config import FinetuneConfig


def run_splits(cfg: "FinetuneConfig") -> "Splits":
    """train / heldout / cross (/ replay) views of the run's catalogue, deterministic from `cfg.seed`."""
    from harness.data import load_catalogue, split

    catalogue, _report = load_catalogue(list(cfg.data), image_root=cfg.image_root)
    return split(catalogue, train_categories=list(cfg.categories), heldout_fraction=cfg.heldout_fraction,
                 seed=cfg.seed, replay_fraction=cfg.replay_fraction)


def cap_rows(catalogue: "Catalogue", max_rows: int | None, seed: int) -> "Catalogue":
    """A seeded subset of at most `max_rows` rows, in catalogue order."""
    if max_rows is None or len(catalogue) <= max_rows:
        return catalogue
    keep = np.sort(np.random.default_rng(seed).permutation(len(catalogue))[:max_rows])
    return catalogue.subset(keep)


def rows_trained_on(splits: "Splits", max_rows: int | None, seed: int) -> "Catalogue":
    """The training split plus the rehearsed books of the other categories (when there are any),
    capped at `max_rows`: the one rule for what a run trains on."""
    rows = splits.train if splits.replay is None else splits.train.concat(splits.replay)
    return cap_rows(rows, max_rows, seed)


def training_rows(cfg: "FinetuneConfig") -> "Catalogue":
    """The rows a run trains on (see rows_trained_on)."""
    return rows_trained_on(run_splits(cfg), cfg.max_train_rows, cfg.seed)


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Optimiser steps in one epoch; the same for any number of processes dividing the batch."""
    return rows // batch_size


def planned_steps(cfg: "FinetuneConfig", rows: int) -> int:
    return cfg.max_steps or cfg.epochs * steps_per_epoch(rows, cfg.batch_size)
