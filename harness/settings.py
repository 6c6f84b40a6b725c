"""Every user setting that more than one surface takes, validated here once with one set of bounds.

The pytest plugin's configuration, the CLI flags, fine-tuning recipes, gates and the
comparison engine all call these, so `confidence = 1.2` reads the same everywhere.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

MIN_RESAMPLES = 100
MAX_RESAMPLES = 100_000  # a bootstrap holds resamples x queries numbers: more buys nothing but memory
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds are non-negative; 32 bits fit every generator
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SPARK_GALLERY_MIB = 256  # Spark ranking: larger galleries are streamed in pieces of at most this


def number(value: object, name: str) -> float:
    """A finite real number (booleans and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def integer(value: object, name: str, *, minimum: int | None = None) -> int:
    """An integer (a float with a fraction, a boolean or a string is refused), at least `minimum`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    checked = int(value)
    if minimum is not None and checked < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {checked}")
    return checked


def boolean(value: object, name: str) -> bool:
    """true/false only: the string "false" is not True."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def mebibytes(value: object, name: str) -> int:
    """A memory budget given in MiB, as bytes: a positive number (a string, as read from the environment,
    is parsed)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number of MiB such as 256, got {value!r}") from None
    mib = number(value, name)
    if mib <= 0:
        raise ConfigError(f"{name} must be more than 0 MiB, got {mib:g}")
    return max(1, int(mib * 2**20))


def switched_off(env: str, *also_off: str) -> bool:
    """Whether environment variable `env` turns a behaviour that is on by default off: `default`, `off`,
    `0`, `false` (any case), or one of `also_off`."""
    return os.environ.get(env, "").strip().lower() in ("default", "off", "0", "false", *also_off)


def confidence(value: object, name: str = "confidence") -> float:
    checked = number(value, name)
    if not 0.5 <= checked < 1:
        raise ConfigError(f"{name} must be in [0.5, 1), e.g. 0.95; got {checked:g}")
    return checked


def resamples(value: object, name: str = "resamples") -> int:
    checked = integer(value, name)
    if checked < MIN_RESAMPLES:
        raise ConfigError(f"{name} must be at least {MIN_RESAMPLES} for a bootstrap, got {checked}; use e.g. 1000")
    if checked > MAX_RESAMPLES:
        raise ConfigError(
            f"{name} must be at most {MAX_RESAMPLES:,} (more only costs memory), got {checked}; use e.g. 1000"
        )
    return checked


def seed(value: object, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**32 - 1], checked before any work."""
    checked = integer(value, name)
    if not 0 <= checked <= MAX_SEED:
        raise ConfigError(f"{name} must be between 0 and {MAX_SEED}, got {checked}")
    return checked


def min_n(value: object, name: str = "min_n") -> int:
    return integer(value, name, minimum=1)


def fraction(value: object, name: str, *, open_low: bool) -> float:
    """A share in [0, 1) (open_low: in (0, 1))."""
    checked = number(value, name)
    ok = (0 < checked < 1) if open_low else (0 <= checked < 1)
    if not ok:
        raise ConfigError(f"{name} must lie in {'(0, 1)' if open_low else '[0, 1)'}, got {checked:g}")
    return checked


def heldout_fraction(value: object, name: str = "heldout_fraction") -> float:
    """[0, 1): 0 holds no book out (a split for pretraining); the suites then have no held-out view."""
    return fraction(value, name, open_low=False)


def replay_fraction(value: object, name: str = "replay_fraction") -> float:
    return fraction(value, name, open_low=False)


def margin(value: object, name: str = "margin") -> float:
    checked = number(value, name)
    if checked < 0:
        raise ConfigError(f"{name} must be >= 0 (how much worse is tolerated, in the metric's units), got {checked:g}")
    return checked


def false_discovery_level(value: Any, name: str = "slice_level") -> float:
    """The false-discovery rate that slice discovery controls (Benjamini-Hochberg): in (0, 0.5]."""
    checked = number(value, name)
    if not 0.0 < checked <= 0.5:
        raise ConfigError(f"{name} must be in (0, 0.5], e.g. 0.05; got {checked:g}")
    return checked


@dataclass(frozen=True)
class StatSettings:
    """How uncertainty is computed: bootstrap resamples, confidence level and the seed."""

    resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "resamples", resamples(self.resamples))
        object.__setattr__(self, "confidence", confidence(self.confidence))
        object.__setattr__(self, "seed", seed(self.seed, "seed"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatSettings:
        # the validators read the stored values as they are: 1e400 or -1 is one line, not an OverflowError
        return cls(d.get("resamples", DEFAULT_RESAMPLES), d.get("confidence", DEFAULT_CONFIDENCE), d.get("seed", 0))


DEFAULT_STAT_SETTINGS = StatSettings()  # a default argument: frozen, so one instance serves every call
