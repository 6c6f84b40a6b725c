"""Weight interpolation (WiSE-FT): θ(α) = (1−α)·θ_baseline + α·θ_finetuned, evaluated on a grid of α.

Each α is scored in-category (held-out books of the training categories) and cross-category
(the other categories). The sweep reports the Pareto frontier of the two and the best α: the
best in-category metric whose cross-category metric is worse than at α = 0 by at most
`max_cross_drop` (in the metric's units). "Better" is the metric's registered direction, so a
rank metric is minimised and a recall maximised.
Interpolated weights are written as ordinary checkpoints (cached by the two fingerprints and α),
so every α has its own weight fingerprint and embedding-cache entries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import EvaluationError
from harness.evaluate.embed import model_identity
from harness.evaluate.evaluation import DEFAULT_EVAL_CONFIG, EvalConfig, build_views, evaluate_views
from harness.evaluate.metrics import better_sign, higher_is_better
from harness.evaluate.results import Evaluation
from harness.evaluate.stats import Estimate
from harness.io import cache_dir, sha256_hex

if TYPE_CHECKING:
    from harness.models import ClipModel

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True, eq=False)
class InterpolationPoint:
    alpha: float
    fingerprint: str
    in_category: Estimate
    cross_category: Estimate
    feasible: bool  # cross-category within max_cross_drop of alpha = 0
    evaluation: Evaluation

    def to_dict(self, *, per_query: bool = True) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "fingerprint": self.fingerprint,
            "in_category": self.in_category.to_dict(),
            "cross_category": self.cross_category.to_dict(),
            "feasible": self.feasible,
            "evaluation": self.evaluation.to_dict(per_query=per_query),
        }


@dataclass(frozen=True, eq=False)
class InterpolationSweep:
    metric: str  # "<direction>/<metric>", e.g. image_to_text/recall@5
    in_view: str
    cross_view: str
    max_cross_drop: float
    points: tuple[InterpolationPoint, ...]
    frontier: tuple[float, ...]  # alphas not dominated on (in-category, cross-category)
    best_alpha: float | None

    @property
    def constraint(self) -> str:
        best = "highest" if higher_is_better(self.metric) else "lowest"
        return (
            f"{best} {self.in_view}/{self.metric} with {self.cross_view}/{self.metric} worse than at "
            f"alpha=0 by at most {self.max_cross_drop:g}"
        )

    def to_dict(self, *, per_query: bool = True) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "in_view": self.in_view,
            "cross_view": self.cross_view,
            "max_cross_drop": self.max_cross_drop,
            "constraint": self.constraint,
            "frontier": list(self.frontier),
            "best_alpha": self.best_alpha,
            "points": [p.to_dict(per_query=per_query) for p in self.points],
        }


def interpolate_state_dicts(
    baseline: Mapping[str, torch.Tensor], finetuned: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """(1 − α)·baseline + α·finetuned for floating tensors; other tensors must be equal."""
    if baseline.keys() != finetuned.keys():
        only = sorted(set(baseline) ^ set(finetuned))
        raise EvaluationError(
            f"cannot interpolate checkpoints of different architectures ({len(only)} tensors "
            f"differ in name, e.g. {only[0]!r}); fine-tune from this baseline"
        )
    out = {}
    for name, a in baseline.items():
        b = finetuned[name]
        if a.shape != b.shape:
            raise EvaluationError(
                f"cannot interpolate: tensor {name!r} has shape {tuple(a.shape)} vs "
                f"{tuple(b.shape)}; fine-tune from this baseline"
            )
        if a.is_floating_point():
            out[name] = torch.lerp(a.float(), b.float(), float(alpha)).to(a.dtype)
        elif torch.equal(a, b):
            out[name] = a.clone()
        else:
            raise EvaluationError(f"cannot interpolate non-float tensor {name!r}: it differs between checkpoints")
    return out


def interpolated_model(baseline: ClipModel, finetuned: ClipModel, alpha: float) -> ClipModel:
    """A ClipModel with θ(α); α = 0 and 1 are the inputs themselves."""
    _check_alpha(alpha)
    for model in (baseline, finetuned):
        if getattr(model, "is_null", False):
            raise EvaluationError(f"{model.spec} is a null model: it has no weights to interpolate")
    if alpha == 0.0:
        return baseline
    if alpha == 1.0:
        return finetuned
    from harness.models import load

    # keyed by the models' full identities: the same weights under another architecture are another model
    key = sha256_hex("wise-ft-v2", model_identity(baseline), model_identity(finetuned), repr(float(alpha)))[:32]
    path = cache_dir() / "interpolated" / f"{key}.safetensors"
    if not path.is_file():
        save_interpolated(baseline, finetuned, alpha, path)
    try:
        return load(str(path), device=baseline.device)
    except Exception:  # a damaged cache entry: rebuild it once
        save_interpolated(baseline, finetuned, alpha, path)
        return load(str(path), device=baseline.device)


def save_interpolated(baseline: Any, finetuned: Any, alpha: float, path: str | Path) -> Path:
    """Write θ(α) as a bookclip checkpoint (atomically) and return its path."""
    from harness.models import save_checkpoint

    _check_alpha(alpha)
    state = interpolate_state_dicts(baseline.state_dict(), finetuned.state_dict(), alpha)
    metadata = {
        "interpolation": {
            "alpha": float(alpha),
            "baseline": baseline.fingerprint,
            "baseline_spec": baseline.spec,
            "finetuned": finetuned.fingerprint,
            "finetuned_spec": finetuned.spec,
        }
    }
    config = getattr(baseline, "preprocess_config", None)
    if config is not None:
        metadata["preprocess"] = config.to_dict()
    save_checkpoint(Path(path), state, config=baseline.config, metadata=metadata)
    return Path(path)


def interpolation_sweep(
    baseline: Any,
    finetuned: Any,
    catalogue: Any,
    *,
    train_categories: Sequence[str],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    metric: str = "image_to_text/recall@5",
    max_cross_drop: float = 0.02,
    in_view: str = "heldout",
    cross_view: str = "cross",
    config: EvalConfig = DEFAULT_EVAL_CONFIG,
) -> InterpolationSweep:
    """Evaluate θ(α) for every α (0 is always included: it is the constraint's reference)."""
    grid = sorted({0.0, *(float(a) for a in alphas)})
    for a in grid:
        _check_alpha(a)
    sign = better_sign(higher_is_better(metric))  # "better" as a larger number
    views = build_views(
        catalogue,
        categories=train_categories,
        views=(in_view, cross_view),
        heldout_fraction=config.heldout_fraction,
        seed=config.seed,
        replay_fraction=config.replay_fraction,
        exclude_groups=config.exclude_groups,
    )
    points = []
    reference = None
    for alpha in grid:
        model = interpolated_model(baseline, finetuned, alpha)
        evaluation = evaluate_views(model, catalogue, views, config=config)
        inside = evaluation.metric(f"{in_view}/{metric}")
        cross = evaluation.metric(f"{cross_view}/{metric}")
        reference = cross.value if reference is None else reference
        feasible = sign * (cross.value - reference) >= -max_cross_drop - 1e-12
        points.append(InterpolationPoint(alpha, model.fingerprint, inside, cross, feasible, evaluation))
    return InterpolationSweep(
        metric,
        in_view,
        cross_view,
        float(max_cross_drop),
        tuple(points),
        pareto_frontier([(p.alpha, sign * p.in_category.value, sign * p.cross_category.value) for p in points]),
        best_alpha([(p.alpha, sign * p.in_category.value, p.feasible) for p in points]),
    )


def pareto_frontier(points: Sequence[tuple[float, float, float]]) -> tuple[float, ...]:
    """Alphas whose (in, cross) pair no other alpha matches or beats on both with one strictly better
    (values oriented so that larger is better)."""
    frontier = []
    for alpha, x, y in points:
        dominated = any(x2 >= x and y2 >= y and (x2 > x or y2 > y) for a2, x2, y2 in points if a2 != alpha)
        if not dominated:
            frontier.append(alpha)
    return tuple(sorted(frontier))


def best_alpha(points: Sequence[tuple[float, float, bool]]) -> float | None:
    """The feasible alpha with the best in-category metric, oriented so that larger is better (the
    smaller alpha on a tie)."""
    feasible = [(x, -alpha) for alpha, x, ok in points if ok]
    if not feasible:
        return None
    return -max(feasible)[1]


def _check_alpha(alpha: float) -> None:
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise EvaluationError(f"alpha={alpha} is outside [0, 1]; WiSE-FT interpolates between the checkpoints")
