"""Power arithmetic of the paired tests: how many queries decide an effect, and which effect n queries decide.

Both questions are answered from one observed comparison (a `Difference` of the comparison engine)
and the metric's declared test, scaled: for per-query 0/1 outcomes the same discordant shares (the
exact McNemar / Tango test on scaled counts), otherwise the same bootstrap spread. A gate that is not
decided says how many queries would decide it (`queries_to_decide`); a slice says the smallest
effect its own queries would decide (`detectable_effect`). Both are "decided at the test's level
when the effect is observed exactly": the effect at which the test's power is about one half.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from harness.evaluate.compare import Difference
from harness.evaluate.intervals import z_quantile
from harness.evaluate.metrics import better_sign

_BISECTION_STEPS = 40


def queries_to_decide(d: Difference, bound: float, alpha: float) -> int:
    """About how many queries like these would make the declared test reject at `alpha`: the same
    discordant shares (0/1 outcomes) or the same bootstrap spread (otherwise), scaled up."""
    if d.test == "mcnemar" and d.gained is not None and d.lost is not None and d.n:
        for factor in np.geomspace(1.0, 1000.0, 200):
            scaled = replace(
                d, n=int(round(d.n * factor)), gained=int(round(d.gained * factor)), lost=int(round(d.lost * factor))
            )
            if scaled.one_sided_p(bound) < alpha:
                return scaled.n
        return d.n * 1000
    sign = better_sign(d.higher_is_better)
    distance = sign * d.delta - bound
    se = _spread(d)
    if se <= 0 or distance <= 0:
        return d.n
    return math.ceil(d.n * (z_quantile(1 - alpha) * se / distance) ** 2)


def detectable_effect(d: Difference, alpha: float) -> float:
    """The smallest change (in metric units, as a magnitude) that the declared test on these n queries
    would decide at one-sided `alpha`: for 0/1 outcomes at the observed discordance (at least the
    discordance the change itself needs), otherwise at the observed bootstrap spread. NaN when n is 0
    or there is no spread to scale."""
    if d.n <= 0:
        return math.nan
    if d.test == "mcnemar" and d.gained is not None and d.lost is not None:
        discordant = d.gained + d.lost

        def decides(effect: float) -> bool:
            moved = effect * d.n  # gained - lost the change needs
            pairs = max(float(discordant), moved)
            gained, lost = int(round((pairs + moved) / 2)), int(round((pairs - moved) / 2))
            hypothetical = replace(d, gained=gained, lost=lost, higher_is_better=True)
            return hypothetical.one_sided_p(0.0) < alpha

        if not decides(1.0):
            return math.nan
        low, high = 0.0, 1.0
        for _ in range(_BISECTION_STEPS):
            mid = (low + high) / 2
            low, high = (low, mid) if decides(mid) else (mid, high)
        return high
    se = _spread(d)
    return z_quantile(1 - alpha) * se if se > 0 else math.nan


def _spread(d: Difference) -> float:
    return float(np.std(d.samples)) if d.samples is not None else 0.0
