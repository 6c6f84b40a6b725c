"""Does a fine-tune beat its baseline? Image-to-text R@k of both on the same covers (the held-out
books of the tuned categories, or the other categories' books for forgetting), with a paired
bootstrap CI of the difference (queries resampled jointly)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Margin:
    """R@k of baseline and candidate on `n` covers, and the paired-bootstrap CI of the gain."""

    k: int
    n: int
    baseline: float
    candidate: float
    gain: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.ci_low > 0

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "baseline": self.baseline, "candidate": self.candidate,
                "gain": self.gain, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value}


def retrieval_margin(baseline: Any, candidate: Any, view: Any, *, k: int = 5, seed: int = 0,
                   resamples: int = 2000) -> Margin:
    """Compare two loaded models on the catalogue view `view` (any view of unseen books)."""
    from harness.evaluate.stats import paired_bootstrap
    from harness.finetune.baseline import image_to_text_hits

    a = image_to_text_hits(baseline, view, k=k)
    b = image_to_text_hits(candidate, view, k=k)
    diff = paired_bootstrap({"hits": a}, {"hits": b}, resamples=resamples, seed=seed)["hits"]
    return Margin(k=k, n=len(a), baseline=float(np.mean(a)), candidate=float(np.mean(b)), gain=diff.value,
                  ci_low=diff.ci_low, ci_high=diff.ci_high, p_value=diff.p_value)
