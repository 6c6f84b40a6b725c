"""Do the intervals cover and do the gates keep their false-alarm rate? Seeded simulations with known truth.

Every interval and test here is the engine's own (harness.evaluate.compare `estimate`,
`compare_values`, `Difference.one_sided_p`), run on synthetic per-query outcomes whose true value
is known:

- proportions (recall@K, accuracy, flip and failure rates): Bernoulli(p) outcomes over n queries;
- paired proportions (a delta of recall@K between two models): correlated Bernoulli pairs, the
  correlation from 0 to the largest the marginals allow;
- rank statistics (MRR, mean and median rank): geometric ranks;
- gates: the truth exactly on a rule's boundary (no difference for `delta`, worse by the margin for
  `non_inferior`): how often the gate passes, against the nominal one-sided level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from harness.evaluate.compare import Difference, compare_values, estimate
from harness.evaluate.metrics import metric_key
from harness.settings import DEFAULT_RESAMPLES, StatSettings

TARGET_WORST, TARGET_MEAN, TARGET_EXCESS = 0.93, 0.975, 0.010


@dataclass(frozen=True)
class Cell:
    """One point of the grid: the share of trials whose interval held the truth (or whose gate passed)."""

    family: str  # "proportion", "paired proportion", "mrr", ..., "gate delta", "gate non_inferior"
    method: str
    setting: str  # the grid point, readable
    trials: int
    rate: float  # coverage, or the false-alarm rate for gate cells
    nominal: float  # the level it is judged against

    @property
    def is_gate(self) -> bool:
        return self.family.startswith("gate")


@dataclass(frozen=True)
class Grid:
    rates: tuple[float, ...] = (0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98)
    sizes: tuple[int, ...] = (30, 64, 200, 1000, 2000)
    correlations: tuple[float, ...] = (0.0, 0.5, 1.0)  # share of the largest correlation the marginals allow
    deltas: tuple[float, ...] = (0.0, 0.05, 0.15)
    margins: tuple[float, ...] = (0.02, 0.05)
    rank_sizes: tuple[int, ...] = (30, 200)
    trials: int = 2000
    rank_trials: int = 400

    @classmethod
    def reduced(cls) -> Grid:
        """The grid the test suite runs: every family, fewer points."""
        return cls(
            rates=(0.05, 0.5, 0.95),
            sizes=(30, 200),
            correlations=(0.0, 1.0),
            deltas=(0.0, 0.1),
            margins=(0.05,),
            rank_sizes=(30,),
            trials=400,
            rank_trials=150,
        )


def simulate(
    grid: Grid = Grid(), *, confidence: float = 0.95, seed: int = 0, progress: Callable[[], None] | None = None
) -> list[Cell]:
    """Every cell of the grid, seeded. (Proportion intervals and tests need no resampling; 200
    resamples serve the bootstrap of the difference they also keep.)"""
    rng = np.random.default_rng(seed)
    stats = StatSettings(200, confidence, seed)
    cells = []
    for cell in _cells(grid, rng, stats):
        cells.append(cell)
        if progress is not None:
            progress()
    return cells


def summary(cells: list[Cell]) -> str:
    coverage = [c.rate for c in cells if not c.is_gate]
    excess = [c.rate - c.nominal for c in cells if c.is_gate]
    return (
        f"worst coverage {min(coverage):.3f} (target >= {TARGET_WORST:.2f}); mean coverage "
        f"{float(np.mean(coverage)):.3f} (target <= {TARGET_MEAN:.3f}); worst false-alarm excess "
        f"{max(excess):.3f} (target <= {TARGET_EXCESS:.3f})"
    )


def misses(cells: list[Cell]) -> list[Cell]:
    """Cells below the coverage target or above the false-alarm target."""
    return [c for c in cells if (c.rate - c.nominal > TARGET_EXCESS if c.is_gate else c.rate < TARGET_WORST)]


# --------------------------------------------------------------------------- the families


def _cells(grid: Grid, rng: np.random.Generator, stats: StatSettings) -> Iterator[Cell]:
    key = "heldout/image_to_text/recall@5"
    for n in grid.sizes:
        for p in grid.rates:
            hits = rng.binomial(n, p, size=grid.trials)
            held = [_covers(estimate(key, _outcomes(k, n), stats), p) for k in hits]
            yield Cell(
                "proportion", "clopper-pearson", f"p={p:g} n={n}", grid.trials, float(np.mean(held)), stats.confidence
            )
    for n in grid.sizes:
        for p in grid.rates:
            for delta in grid.deltas:
                if not 0.0 < p + delta < 1.0:
                    continue
                for share in grid.correlations:
                    counts = _paired_counts(rng, n, p, p + delta, share, grid.trials)
                    held = [_covers(_difference(key, c, n, stats), delta) for c in counts]
                    yield Cell(
                        "paired proportion",
                        "tango",
                        f"p={p:g} delta={delta:g} corr={share:g} n={n}",
                        grid.trials,
                        float(np.mean(held)),
                        stats.confidence,
                    )
    yield from _gate_cells(grid, rng, stats, key)
    yield from _rank_cells(grid, rng, stats)


def _gate_cells(grid: Grid, rng: np.random.Generator, stats: StatSettings, key: str) -> Iterator[Cell]:
    """Truth on the boundary: a gate that passes there is a false alarm (nominal: one-sided level)."""
    alpha = (1.0 - stats.confidence) / 2.0
    for n in grid.sizes:
        for p in grid.rates:
            for share in grid.correlations:
                for rule, margin in [("delta", 0.0)] + [("non_inferior", m) for m in grid.margins]:
                    worse = p - margin  # the candidate is worse by exactly the margin
                    if not 0.0 < worse < 1.0:
                        continue
                    counts = _paired_counts(rng, n, p, worse, share, grid.trials)
                    passed = [
                        _difference(key, c, n, stats).one_sided_p(-margin if margin else 0.0) < alpha for c in counts
                    ]
                    yield Cell(
                        f"gate {rule}",
                        "exact mcnemar" if rule == "delta" else "tango score test",
                        f"p={p:g} margin={margin:g} corr={share:g} n={n}",
                        grid.trials,
                        float(np.mean(passed)),
                        alpha,
                    )


def _rank_cells(grid: Grid, rng: np.random.Generator, stats: StatSettings) -> Iterator[Cell]:
    """The declared bootstrap interval of rank statistics over geometric ranks (truth from the
    distribution), with the product's number of resamples."""
    stats = StatSettings(DEFAULT_RESAMPLES, stats.confidence, stats.seed)
    for n in grid.rank_sizes:
        for q in (0.1, 0.25):  # P(the correct answer is next), per rank; medians away from a tie
            truth = {
                "mrr": q * -math.log(q) / (1 - q) if q < 1 else 1.0,
                "mean_rank": 1.0 / q,
                "median_rank": float(math.ceil(math.log(0.5) / math.log(1 - q))),
            }
            held: dict[str, list[bool]] = {name: [] for name in truth}
            for _ in range(grid.rank_trials):
                ranks = rng.geometric(q, size=n).astype(np.float64)
                for name in truth:
                    values = 1.0 / ranks if name == "mrr" else ranks
                    held[name].append(_covers(estimate(f"heldout/image_to_text/{name}", values, stats), truth[name]))
            for name, covered in held.items():
                method = metric_key(f"heldout/image_to_text/{name}").resolved.interval
                yield Cell(
                    name,
                    method,
                    f"geometric q={q:g} n={n}",
                    grid.rank_trials,
                    float(np.mean(covered)),
                    stats.confidence,
                )


# --------------------------------------------------------------------------- helpers


def _covers(interval: object, truth: float) -> bool:
    return bool(interval.ci_low - 1e-12 <= truth <= interval.ci_high + 1e-12)  # type: ignore[attr-defined]


def _outcomes(hits: int, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[:hits] = 1.0
    return out


def _paired_counts(rng: np.random.Generator, n: int, pa: float, pb: float, share: float, trials: int) -> np.ndarray:
    """(both, a only, b only, neither) counts of correlated Bernoulli pairs with marginals pa, pb."""
    largest = min(pa, pb) - pa * pb  # the most p11 can exceed independence
    p11 = pa * pb + share * largest
    probs = np.array([p11, pa - p11, pb - p11, 1.0 - pa - pb + p11]).clip(0.0, 1.0)
    return rng.multinomial(n, probs / probs.sum(), size=trials)


def _difference(key: str, counts: np.ndarray, n: int, stats: StatSettings) -> Difference:
    both, a_only, b_only, _ = (int(c) for c in counts)
    a = np.zeros(n)
    b = np.zeros(n)
    a[: both + a_only] = 1.0
    b[:both] = 1.0
    b[both + a_only : both + a_only + b_only] = 1.0
    return compare_values(key, a, b, stats)
