"""Seeded train / held-out / cross-category views, split by edition group so no book leaks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import settings
from harness.data.catalogue import Catalogue
from harness.errors import ConfigError, DataError
from harness.io import sha256_hex


@dataclass(frozen=True, eq=False)
class Splits:
    """`train` and `heldout` share the training categories; `cross` holds the other categories.

    `withheld` counts rows of other categories left out of `cross` because their book is in `train`.
    `pretrained` counts rows left out of `cross` because the reference model (the baseline) was
    trained on their book (`exclude_groups`): the cross views hold unseen books only. (`heldout`
    keeps every book, so a model trained on held-out books is warned about, not hidden.)
    `replay` holds the other categories' books set aside for rehearsal during fine-tuning (None
    unless a replay fraction is asked for); they are never in `cross`, so the cross-category
    views measure forgetting on books the fine-tune did not see.
    """

    train: Catalogue
    heldout: Catalogue
    cross: Catalogue
    withheld: int
    replay: Catalogue | None = None
    pretrained: int = 0

    @property
    def replay_rows(self) -> int:
        return 0 if self.replay is None else len(self.replay)

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": len(self.train),
            "heldout": len(self.heldout),
            "cross": len(self.cross),
            "withheld": self.withheld,
            "replay": self.replay_rows,
            "pretrained": self.pretrained,
        }


def split(
    catalogue: Catalogue,
    *,
    train_categories: str | Iterable[str],
    heldout_fraction: float = 0.2,
    seed: int = 0,
    replay_fraction: float = 0.0,
    exclude_groups: Iterable[str] = (),
) -> Splits:
    """Split `catalogue` by `group_id` (editions of one book stay together, across categories too).

    A `heldout_fraction` of the training categories' groups (rounded) goes to `heldout`, picked by
    ranking groups on a seeded hash, so the choice depends only on the seed and the group ids, not
    on row order. `cross` is every other category minus the groups in `train`, minus `replay`:
    the other categories' groups whose seeded hash falls below `replay_fraction` (a per-group
    draw, so a book's fate does not depend on which other books the catalogue holds).
    `exclude_groups` (the books a baseline was pretrained on) leave `cross` only: `train` and
    `replay`, the rows a fine-tune trains on, do not depend on them.
    """
    wanted = [train_categories] if isinstance(train_categories, str) else list(train_categories)
    if not wanted:
        raise ConfigError("train_categories is empty; name at least one category to train on")
    unknown = sorted(set(wanted) - set(catalogue.categories))
    if unknown:
        raise DataError(
            f"unknown train category {', '.join(map(repr, unknown))}; "
            f"the catalogue has: {', '.join(catalogue.categories)}"
        )
    settings.heldout_fraction(heldout_fraction)
    settings.replay_fraction(replay_fraction)
    frame = catalogue.frame
    in_train_categories = frame["category"].isin(wanted).to_numpy()
    groups = frame["group_id"].to_numpy()
    candidate_groups = sorted(set(groups[in_train_categories]))
    ranked = sorted(candidate_groups, key=lambda g: sha256_hex(str(seed), g))
    n_heldout = int(round(heldout_fraction * len(ranked)))
    heldout_groups = set(ranked[:n_heldout])
    is_heldout_group = np.fromiter((g in heldout_groups for g in groups), dtype=bool, count=len(groups))
    train_mask = in_train_categories & ~is_heldout_group
    heldout_mask = in_train_categories & is_heldout_group
    train_groups = set(groups[train_mask])
    leaks = np.fromiter((g in train_groups for g in groups), dtype=bool, count=len(groups))
    other = ~in_train_categories & ~leaks
    replay_mask = np.zeros(len(groups), dtype=bool)
    if replay_fraction > 0:
        # never a held-out book's edition: rehearsing it would leak into `heldout`
        candidates = other & ~is_heldout_group
        drawn = {g for g in set(groups[candidates]) if _unit_hash(seed, g) < replay_fraction}
        replay_mask = candidates & np.fromiter((g in drawn for g in groups), dtype=bool, count=len(groups))
    withheld = int((~in_train_categories & leaks).sum())
    excluded = set(exclude_groups)
    seen = (
        np.fromiter((g in excluded for g in groups), dtype=bool, count=len(groups))
        if excluded
        else np.zeros(len(groups), dtype=bool)
    )
    cross_mask = other & ~replay_mask
    pretrained = int((cross_mask & seen).sum())
    return Splits(
        train=catalogue.subset(train_mask),
        heldout=catalogue.subset(heldout_mask),
        cross=catalogue.subset(cross_mask & ~seen),
        withheld=withheld,
        replay=catalogue.subset(replay_mask) if replay_fraction > 0 else None,
        pretrained=pretrained,
    )


def _unit_hash(seed: int, group: str, purpose: str = "replay") -> float:
    """A seeded, uniform-looking number in [0, 1) for one group (independent of the heldout ranking)."""
    return int(sha256_hex(purpose, str(seed), group)[:13], 16) / 16**13


def cap_rows(catalogue: Catalogue, max_rows: int | None, seed: int) -> Catalogue:
    """A seeded subset of at most `max_rows` rows, in catalogue order."""
    if max_rows is None or len(catalogue) <= max_rows:
        return catalogue
    keep = np.sort(np.random.default_rng(seed).permutation(len(catalogue))[:max_rows])
    return catalogue.subset(keep)


def _rehearsable_rows(splits: Splits) -> Catalogue:
    return splits.train if splits.replay is None else splits.train.concat(splits.replay)


def _validation_mask(rows: Catalogue, seed: int, fraction: float) -> np.ndarray:
    groups = rows.frame["group_id"].to_numpy()
    return np.fromiter((_unit_hash(seed, g, "validation") < fraction for g in groups), dtype=bool, count=len(groups))


def rows_trained_on(splits: Splits, max_rows: int | None, seed: int, *, validation_fraction: float = 0.0) -> Catalogue:
    """The training split plus the rehearsed books of the other categories (when there are any),
    minus the validation books (`validation_rows`), capped at `max_rows`: the one rule for what a
    run trains on."""
    rows = _rehearsable_rows(splits)
    if validation_fraction > 0:
        rows = rows.subset(~_validation_mask(rows, seed, validation_fraction))
    return cap_rows(rows, max_rows, seed)


def validation_rows(splits: Splits, seed: int, fraction: float) -> Catalogue:
    """A seeded share `fraction` of the books of the training split and the rehearsed books (drawn per
    edition group), kept out of training to choose a setting on (e.g. WiSE-FT's alpha); never a
    book of an evaluated view."""
    rows = _rehearsable_rows(splits)
    return rows.subset(_validation_mask(rows, seed, fraction))
