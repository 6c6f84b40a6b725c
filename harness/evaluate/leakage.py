"""Was a checkpoint trained on the books it is evaluated on?

A checkpoint fine-tuned here records how its training rows were chosen (`training_config`:
categories, seed, held-out and replay fractions, row cap) and their fingerprint
(`data_fingerprint`). On the same catalogue those rows can be derived again, exactly; the
fingerprint proves it. Then every evaluation view can be checked, by edition group, for books
the model saw in training: a candidate fine-tuned with another seed would otherwise be scored on
its own training books and look better than it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import BookclipError


@dataclass(frozen=True)
class TrainingOverlap:
    """Rows of each view whose book (edition group) the model was trained on; `known` is False when
    the checkpoint does not say how it was trained, or was trained on other data (`reason`)."""

    known: bool
    views: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"known": self.known, "views": dict(self.views), **({"reason": self.reason} if self.reason else {})}


def trained_groups(model: Any, catalogue: Any) -> frozenset[str]:
    """The books (edition groups) of `catalogue` that `model` was trained on; empty when its
    training rows cannot be derived here (see `training_overlap` for the reason)."""
    seen, _reason = _trained_groups(model, catalogue)
    return frozenset(seen or ())


def training_overlap(model: Any, catalogue: Any, views: Mapping[str, Any]) -> TrainingOverlap:
    """Count, per view, the rows whose book `model` was trained on (see the module note)."""
    seen, reason = _trained_groups(model, catalogue)
    if seen is None:
        return TrainingOverlap(False, reason=reason)
    return TrainingOverlap(True, {name: int(view.frame["group_id"].isin(seen).sum()) for name, view in views.items()})


def _trained_groups(model: Any, catalogue: Any) -> tuple[set[str] | None, str]:
    from harness.data import split
    from harness.data.split import rows_trained_on

    metadata = getattr(model, "metadata", None) or {}
    training, recorded = metadata.get("training_config"), metadata.get("data_fingerprint")
    if not isinstance(training, dict) or not isinstance(recorded, str) or not training.get("categories"):
        return None, "the checkpoint does not record how it was trained"
    try:
        splits = split(
            catalogue,
            train_categories=list(training["categories"]),
            heldout_fraction=float(training.get("heldout_fraction", 0.2)),
            seed=int(training.get("seed", 0)),
            replay_fraction=float(training.get("replay_fraction", 0.0)),
        )
        cap = training.get("max_train_rows")
        rows = rows_trained_on(
            splits,
            int(cap) if cap else None,
            int(training.get("seed", 0)),
            validation_fraction=float(training.get("validation_fraction", 0.0)),
        )
    except (BookclipError, TypeError, ValueError) as exc:
        return None, f"its training split cannot be derived here ({exc})"
    if rows.fingerprint != recorded:
        return None, "it was trained on other data than this catalogue"
    return set(rows.frame["group_id"]), ""
