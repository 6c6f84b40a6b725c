"""Which way is better for a metric, read from the last component of its key.

Keys look like `heldout/image_to_text/recall@5`, `zero_shot/cross/accuracy` or
`probes/typo/flip_rate`; only the last component decides the direction.
"""
from __future__ import annotations

import re

from harness.errors import ConfigError

# Matched against the metric name (last key component), first match wins.
# Lower-is-better suffixes are checked first so `recall@5_drop` reads as a drop.
_HIGHER = ("recall", "mrr", "accuracy", "hit", "precision", "auc", "radius", "margin")
_LOWER = ("rank", "rank_change", "flip_rate", "failure_rate", "fragile_rate", "lost", "drop", "loss", "error")
# summary-statistic suffixes do not change a metric's direction: similarity_drop_mean is a drop
_STATISTIC = re.compile(r"_(?:mean|median|p\d+)$")


def metric_name(key: str) -> str:
    """The last path component of a metric key: `heldout/image_to_text/recall@5` -> `recall@5`."""
    return key.rsplit("/", 1)[-1]


def knows_direction(key: str) -> bool:
    """True when `higher_is_better(key)` can decide this metric."""
    try:
        higher_is_better(key)
    except ConfigError:
        return False
    return True


def higher_is_better(key: str) -> bool:
    """True for recall, mrr and accuracy; False for ranks, flip/failure rates and drops.

    Raises ConfigError for a metric whose direction is unknown, so a gate or regression
    check never guesses which way is worse.
    """
    name = metric_name(key).lower()
    base = _STATISTIC.sub("", re.sub(r"@\d+", "", name))  # recall@5 -> recall, radius_p50 -> radius
    if base.endswith(_LOWER):
        return False
    if base.startswith(_HIGHER):
        return True
    raise ConfigError(
        f"metric {key!r} has no known direction (last component {name!r}); name it "
        f"{'/'.join(_HIGHER)}... (higher is better) or ...{'/'.join(_LOWER)} (lower is better)")


def is_worse(key: str, delta: float) -> bool:
    """True when a change of `delta` (new minus old) moves `key` the wrong way."""
    return delta < 0 if higher_is_better(key) else delta > 0
