"""The metric registry: every metric bookclip computes, declared once.

A metric is declared with its name pattern, how one query's value is computed, the statistic
over queries, its direction, its paired test and the kind of result it applies to. Gate
parsing, directions, rank-to-metric code, the comparison engine, the interpolation objective,
console colouring and HTML arrows all read it from here:

    register_metric(Metric("recall@K", r"recall@(?P<k>[1-9]\\d*)", higher_is_better=True,
                           test="mcnemar", applies_to="retrieval",
                           from_ranks=lambda r, k: (r <= int(k)).astype(float), instances=...))

Kinds (`applies_to`):
- "retrieval": computed from per-query ranks of `<view>/<direction>` (`from_ranks`);
- "zero_shot": computed from per-cover correctness of `<view>/zero_shot` (`from_zero_shot`);
- "probes": per-item values that the probe runner produces; the registry says how to read them.

Another package adds metrics through the entry-point group `bookclip.metrics`: an entry point names a
`Metric` object (`my_metric = "my_package.metrics:MY_METRIC"`), registered the first time the registry
is read. Keys name where a metric was measured: `<view>/<direction>/<metric>`, `<view>/zero_shot/<metric>`,
`probes/<family>/<metric>`, `interpolation/<view>/<direction>/<metric>`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from harness.errors import ConfigError, EvaluationError
from harness.registry import Registry

Kind = Literal["retrieval", "zero_shot", "probes"]
Scale = Literal["rate", "rank", "similarity", "other"]  # the axis a metric's values share with others in a plot
Test = Literal["mcnemar", "bootstrap"]
KINDS: tuple[Kind, ...] = get_args(Kind)
SCALES: tuple[Scale, ...] = get_args(Scale)
TESTS: tuple[Test, ...] = get_args(Test)
ENTRY_POINT_GROUP = "bookclip.metrics"
# per test: the interval of one model's value, and of the paired difference between two models.
# Per-query 0/1 outcomes: Clopper-Pearson and Tango's score interval (its test: exact McNemar at 0,
# Tango's score test at a margin); anything else: the BCa bootstrap for one model's value (the plain
# percentile interval under-covers skewed rank statistics at the suites' sizes: `bookclip calibrate
# --simulate`) and the paired percentile bootstrap for a difference (BCa's jackknife acceleration
# turns a handful of changed queries among hundreds into false significance).
INTERVALS: dict[Test, tuple[str, str]] = {
    "mcnemar": ("clopper-pearson", "tango"),
    "bootstrap": ("bca", "paired-percentile"),
}
# the intervals drawn from bootstrap resamples (the rest are exact or score intervals of 0/1 outcomes)
RESAMPLED_INTERVALS = frozenset({*INTERVALS["bootstrap"], "percentile"})
DIRECTIONS = ("image_to_text", "text_to_image")
VIEW = r"(?:train|heldout|cross|all)(?::.+?)?"  # cross:<Category>, whatever the category's name holds
FAMILY = r"[A-Za-z0-9_.-]+(?:@title_hidden)?"


@dataclass(frozen=True)
class Metric:
    """One metric family. `pattern` matches the last component of a key; its named groups are
    the parameters handed to `from_ranks`/`from_zero_shot`/`statistic` (e.g. k of recall@K)."""

    name: str
    pattern: str
    higher_is_better: bool | None  # None: a description, not a quality (no direction, not gateable)
    applies_to: Kind
    statistic: str | Callable[..., str] = "mean"  # mean, median, pNN, or a function of the parameters
    test: Test = "bootstrap"  # "mcnemar": per-query 0/1 outcomes, exact McNemar; else paired bootstrap
    from_ranks: Callable[..., np.ndarray] | None = None
    from_zero_shot: Callable[..., np.ndarray] | None = None
    instances: Callable[[Sequence[int]], Sequence[str]] | None = None  # names evaluated for recall cut-offs ks
    interval: str = ""  # how a value's CI is made; default: by the test (see INTERVALS)
    description: str = ""
    scale: Scale = "other"  # one of SCALES

    def __post_init__(self) -> None:
        if self.applies_to not in KINDS:
            raise ConfigError(f"metric {self.name!r}: applies_to must be one of {KINDS}")
        if self.test not in TESTS:
            raise ConfigError(f"metric {self.name!r}: test must be one of {TESTS}")
        if self.applies_to == "retrieval" and self.from_ranks is None:
            raise ConfigError(f"retrieval metric {self.name!r} needs from_ranks")
        if self.applies_to == "zero_shot" and self.from_zero_shot is None:
            raise ConfigError(f"zero-shot metric {self.name!r} needs from_zero_shot")
        if self.scale not in SCALES:
            raise ConfigError(f"metric {self.name!r}: scale must be one of {SCALES}")
        if not self.interval:
            object.__setattr__(self, "interval", INTERVALS[self.test][0])

    def names(self, ks: Sequence[int]) -> tuple[str, ...]:
        """The concrete names an evaluation computes (recall@1, recall@5, ... for recall@K)."""
        return tuple(self.instances(ks)) if self.instances is not None else (self.name,)


@dataclass(frozen=True)
class Resolved:
    """A concrete metric name bound to its declaration and parameters."""

    metric: Metric
    name: str
    params: dict[str, str]

    @property
    def higher_is_better(self) -> bool | None:
        return self.metric.higher_is_better

    @property
    def statistic(self) -> str:
        stat = self.metric.statistic
        return stat(**self.params) if callable(stat) else stat

    @property
    def test(self) -> Test:
        return self.metric.test

    @property
    def interval(self) -> str:
        return self.metric.interval

    @property
    def difference_interval(self) -> str:
        return INTERVALS[self.metric.test][1]

    def from_ranks(self, ranks: np.ndarray) -> np.ndarray:
        assert self.metric.from_ranks is not None
        return np.asarray(self.metric.from_ranks(np.asarray(ranks, dtype=np.float64), **self.params), dtype=np.float64)


def _as_metric(value: object) -> Metric:
    if not isinstance(value, Metric):
        raise ConfigError(f"{value!r} is not a harness.evaluate.metrics.Metric; point the entry point at one")
    re.compile(value.pattern)
    return value


METRICS: Registry[Metric] = Registry("metric", check=_as_metric, groups=(ENTRY_POINT_GROUP,))


def register_metric(metric: Metric) -> Metric:
    """Add a metric to the registry (a name already taken by another metric is an error)."""
    METRICS.register(metric.name, _as_metric(metric))
    return metric


def unregister_metric(name: str) -> None:
    METRICS.unregister(name)


@contextmanager
def registered(metric: Metric) -> Iterator[Metric]:
    """A metric registered for the duration of a block (tests, plugins trying one out)."""
    register_metric(metric)
    try:
        yield metric
    finally:
        unregister_metric(metric.name)


def metrics(kind: Kind | None = None) -> tuple[Metric, ...]:
    """The registered metrics (of one kind), in registration order; entry points included."""
    return tuple(m for m in METRICS.values() if kind is None or m.applies_to == kind)


def resolve(name: str, kind: Kind | None = None) -> Resolved | None:
    """The declaration behind a metric name (the last key component) of a kind, or None."""
    return _resolve_cached(name, kind)


@functools.lru_cache(maxsize=8192)
def _resolve_cached(name: str, kind: Kind | None) -> Resolved | None:
    for metric in metrics():
        if kind is not None and metric.applies_to != kind:
            continue
        match = re.fullmatch(metric.pattern, name)
        if match:
            return Resolved(metric, name, {k: v for k, v in match.groupdict().items() if v is not None})
    return None


METRICS.on_change(_resolve_cached.cache_clear)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class MetricKey:
    """A parsed key: where a metric was measured (`scope`) and which metric (`resolved`)."""

    key: str
    kind: Kind
    view: str  # the view, or the probe family
    direction: str  # image_to_text, text_to_image, zero_shot, or "" for probes
    resolved: Resolved
    interpolated: bool = False

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def suite(self) -> str:
        """The suite of `suites/` whose gates may name this key."""
        if self.interpolated:
            return "interpolation"
        if self.kind == "retrieval":
            return "cross_category" if self.view.split(":")[0] == "cross" else "retrieval"
        return self.kind

    @property
    def base_key(self) -> str:
        """The key without an `interpolation/` prefix."""
        return self.key[len("interpolation/") :] if self.interpolated else self.key


_RETRIEVAL_KEY = re.compile(rf"^(?P<view>{VIEW})/(?P<direction>{'|'.join(DIRECTIONS)})/(?P<metric>[^/]+)$")
_ZERO_SHOT_KEY = re.compile(rf"^(?P<view>{VIEW})/zero_shot/(?P<metric>.+)$")  # a category may hold '/' ']'
_PROBE_KEY = re.compile(rf"^probes/(?P<view>{FAMILY})/(?P<metric>[^/]+)$")


_KEY_FORMS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("retrieval", _RETRIEVAL_KEY),
    ("zero_shot", _ZERO_SHOT_KEY),
    ("probes", _PROBE_KEY),
)


def parse_key(key: str) -> MetricKey | None:
    """The parsed key, or None when it names no registered metric in a known place."""
    interpolated = key.startswith("interpolation/")
    body = key[len("interpolation/") :] if interpolated else key
    for kind, pattern in _KEY_FORMS:
        match = pattern.match(body)
        if not match or (interpolated and kind != "retrieval"):
            continue
        resolved = resolve(match["metric"], kind)
        if resolved is None:
            return None
        direction = match.groupdict().get("direction") or ("zero_shot" if kind == "zero_shot" else "")
        return MetricKey(key, kind, match["view"], direction, resolved, interpolated)
    return None


def metric_key(key: str) -> MetricKey:
    """parse_key, or a one-line error naming the forms a key takes."""
    parsed = parse_key(key)
    if parsed is None:
        known = ", ".join(m.name for m in metrics())
        raise ConfigError(
            f"unknown metric key {key!r}; keys look like heldout/image_to_text/recall@5, "
            f"cross/text_to_image/mrr, heldout/zero_shot/accuracy, probes/<family>/flip_rate "
            f"(metrics: {known})"
        )
    return parsed


def metric_name(key: str) -> str:
    """The last component of a key: `heldout/image_to_text/recall@5` -> `recall@5`."""
    return key.rsplit("/", 1)[-1]


def lookup(key: str) -> Resolved | None:
    """The declaration of a full key or of a bare metric name, or None."""
    parsed = parse_key(key)
    return parsed.resolved if parsed is not None else resolve(metric_name(key))


def higher_is_better(key: str) -> bool:
    """The registered direction of a key or metric name; a one-line error when it has none."""
    found = lookup(key)
    if found is None or found.higher_is_better is None:
        why = "is not registered" if found is None else "has no direction (it describes, it does not rate)"
        raise ConfigError(
            f"metric {key!r} {why}, so better and worse are undefined for it; "
            "declare it with harness.evaluate.metrics.register_metric"
        )
    return found.higher_is_better


def direction_of(key: str) -> bool | None:
    """The registered direction of a key or metric name: True (higher is better), False, or None when it is
    not registered or has none."""
    found = lookup(key)
    return None if found is None else found.higher_is_better


def knows_direction(key: str) -> bool:
    return direction_of(key) is not None


def better_sign(higher: bool | None) -> float:
    """+1 when higher is better, -1 when lower is: a change times it is positive when it is better
    (a metric without a direction counts as higher-is-better where a sign is needed)."""
    return -1.0 if higher is False else 1.0


def is_worse(key: str, delta: float) -> bool:
    """True when a change of `delta` (new minus old) moves `key` the wrong way."""
    return better_sign(higher_is_better(key)) * delta < 0


def arrow(key: str) -> str:
    """'↑' when higher is better, '↓' when lower is, '' when unknown."""
    return arrow_of(direction_of(key))


def arrow_of(higher: bool | None) -> str:
    """The arrow of a direction: '↑', '↓', or '' for none."""
    return "" if higher is None else "↑" if higher else "↓"


def scale_of(key: str) -> Scale:
    """The registered scale of a key or metric name (SCALES); 'other' when it is not registered."""
    found = lookup(key)
    return "other" if found is None else found.metric.scale


def statistic_of(key: str) -> str:
    found = lookup(key)
    return "mean" if found is None else found.statistic


def retrieval_names(ks: Sequence[int]) -> tuple[str, ...]:
    """Every retrieval metric an evaluation computes for recall cut-offs `ks`, in report order."""
    return tuple(name for m in metrics("retrieval") for name in m.names(ks))


def zero_shot_names(categories: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for m in metrics("zero_shot") for name in m.names(categories))  # type: ignore[arg-type]


def values_from_ranks(ranks: np.ndarray, name: str) -> np.ndarray:
    """Per-query values of a retrieval metric, whose registered statistic is the metric."""
    found = resolve(name, "retrieval")
    if found is None:
        known = ", ".join(m.name for m in metrics("retrieval"))
        raise EvaluationError(f"unknown retrieval metric {name!r}; use one of {known}")
    return found.from_ranks(ranks)


# --------------------------------------------------------------------------- the metrics


def _balanced_weights(result: object) -> np.ndarray:
    """Per cover: N / (C * n_c), so the mean of weight * correct is the mean per-category accuracy."""
    labels = result.labels  # type: ignore[attr-defined]
    counts = np.bincount(labels)
    present = np.count_nonzero(counts)
    weights: np.ndarray = len(labels) / (present * counts[labels].astype(np.float64))
    return weights


def _recall_names(ks: Sequence[int]) -> list[str]:
    return [f"recall@{int(k)}" for k in ks]


def _zero_shot_recall_names(categories: Sequence[str]) -> list[str]:
    return [f"recall[{c}]" for c in categories]


register_metric(
    Metric(
        "recall@K",
        r"recall@(?P<k>[1-9]\d*)",
        higher_is_better=True,
        applies_to="retrieval",
        test="mcnemar",
        from_ranks=lambda r, k: (r <= int(k)).astype(np.float64),
        instances=_recall_names,
        scale="rate",
        description="share of queries whose correct answer ranks k or better",
    )
)
register_metric(
    Metric(
        "mrr",
        "mrr",
        higher_is_better=True,
        applies_to="retrieval",
        from_ranks=lambda r: 1.0 / r,
        scale="rate",
        description="mean reciprocal rank of the correct answer",
    )
)
register_metric(
    Metric(
        "median_rank",
        "median_rank",
        higher_is_better=False,
        applies_to="retrieval",
        statistic="median",
        from_ranks=lambda r: r,
        scale="rank",
        description="median rank of the correct answer",
    )
)
register_metric(
    Metric(
        "mean_rank",
        "mean_rank",
        higher_is_better=False,
        applies_to="retrieval",
        from_ranks=lambda r: r,
        scale="rank",
        description="mean rank of the correct answer",
    )
)

register_metric(
    Metric(
        "accuracy",
        "accuracy",
        higher_is_better=True,
        applies_to="zero_shot",
        test="mcnemar",
        from_zero_shot=lambda result: result.correct.astype(np.float64),
        scale="rate",
        description="share of covers whose best-scoring category prompt is one of their book's categories",
    )
)
register_metric(
    Metric(
        "balanced_accuracy",
        "balanced_accuracy",
        higher_is_better=True,
        applies_to="zero_shot",
        scale="rate",
        from_zero_shot=lambda result: _balanced_weights(result) * result.correct,
        description="mean over the view's categories of the per-category accuracy (macro recall): a constant "
        "predictor scores 1/C",
    )
)
register_metric(
    Metric(
        "recall[C]",
        r"recall\[(?P<category>.+)\]",
        higher_is_better=True,
        applies_to="zero_shot",
        test="mcnemar",
        instances=_zero_shot_recall_names,  # type: ignore[arg-type]
        scale="rate",
        from_zero_shot=lambda result, category: (
            result.correct[result.labels == list(result.categories).index(category)].astype(np.float64)
            if category in result.categories
            else np.empty(0)
        ),
        description="zero-shot accuracy over the covers of one category",
    )
)


def _probe(
    name: str,
    pattern: str,
    higher: bool | None,
    *,
    test: Test = "bootstrap",
    statistic: str | Callable[..., str] = "mean",
    description: str = "",
    scale: Scale = "other",
) -> None:
    register_metric(
        Metric(
            name,
            pattern,
            higher_is_better=higher,
            applies_to="probes",
            test=test,
            statistic=statistic,
            description=description,
            scale=scale,
        )
    )


_QUANTILE = r"(?P<stat>mean|p50|p90)"  # the drops the probe runner measures
_probe(
    "probe recall@K",
    r"recall@(?P<k>[1-9]\d*)",
    True,
    test="mcnemar",
    scale="rate",
    description="share of probed titles whose cover ranks k or better",
)
_probe(
    "flip_rate",
    "flip_rate",
    False,
    test="mcnemar",
    scale="rate",
    description="top-1 answer changed by the perturbation",
)
_probe(
    "lost@K",
    r"lost@(?P<k>[1-9]\d*)",
    False,
    test="mcnemar",
    scale="rate",
    description="cover found at k with the exact title, lost with the perturbed one",
)
_probe(
    "mean_rank_change", "mean_rank_change", False, scale="rank", description="rank of the cover, perturbed minus exact"
)
_probe("probe mean_rank", "mean_rank", False, scale="rank")
_probe(
    "similarity_drop",
    rf"similarity_drop_{_QUANTILE}",
    False,
    statistic=lambda stat: "mean" if stat == "mean" else stat,
    scale="similarity",
    description="cosine similarity lost by the perturbation (mean or a percentile)",
)
_probe("failure_rate", "failure_rate", False, scale="rate", description="a look-alike title scores above the true one")
_probe("any_failure_rate", "any_failure_rate", False, test="mcnemar", scale="rate")
_probe(
    "margin",
    r"margin_(?P<stat>mean|p50)",
    True,
    statistic=lambda stat: "mean" if stat == "mean" else "median",
    description="true title's similarity above the best look-alike",
)
_probe(
    "radius",
    r"radius_(?P<stat>mean|p50)",
    True,
    statistic=lambda stat: "mean" if stat == "mean" else "median",
    description="fewest character edits that lose the cover",
)
_probe("fragile_rate", "fragile_rate", False, test="mcnemar", scale="rate", description="lost within one edit")
_probe(
    "reading_gap@K",
    r"reading_gap@(?P<k>[1-9]\d*)",
    None,
    description="hit with the title shown minus hit with it hidden (how much the model reads the cover)",
)
