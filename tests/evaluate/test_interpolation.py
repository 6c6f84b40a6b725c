from __future__ import annotations

import pytest
import torch

from harness.errors import EvaluationError
from harness.evaluate.evaluation import EvalConfig
from harness.evaluate.interpolation import (
    best_alpha,
    interpolate_state_dicts,
    interpolated_model,
    interpolation_sweep,
    pareto_frontier,
    save_interpolated,
)


@pytest.fixture(scope="module")
def tuned():
    from harness.models import load

    return load("tiny:vit-xs@1")  # same architecture, other weights: stands in for a fine-tune


def test_interpolation_is_linear_in_alpha(tiny_model, tuned):
    a, b = tiny_model.state_dict(), tuned.state_dict()
    half = interpolate_state_dicts(a, b, 0.5)
    zero, one = interpolate_state_dicts(a, b, 0.0), interpolate_state_dicts(a, b, 1.0)
    for name, t in a.items():
        if t.is_floating_point():
            assert torch.allclose(half[name], (t + b[name]) / 2, atol=1e-6)
            assert torch.equal(zero[name], t) and torch.equal(one[name], b[name])


def test_mismatched_architectures_cannot_be_interpolated():
    with pytest.raises(EvaluationError, match="different architectures"):
        interpolate_state_dicts({"w": torch.ones(2)}, {"v": torch.ones(2)}, 0.5)
    with pytest.raises(EvaluationError, match="shape"):
        interpolate_state_dicts({"w": torch.ones(2)}, {"w": torch.ones(3)}, 0.5)
    with pytest.raises(EvaluationError, match="outside"):
        save_interpolated(None, None, 1.5, "x.safetensors")


def test_interpolated_model_has_its_own_fingerprint_and_saved_checkpoint(tiny_model, tuned, tmp_path, fresh_cache):
    from harness.models import load

    mid = interpolated_model(tiny_model, tuned, 0.5)
    assert mid.fingerprint not in (tiny_model.fingerprint, tuned.fingerprint)
    assert interpolated_model(tiny_model, tuned, 0.5).fingerprint == mid.fingerprint  # served from the cache
    assert interpolated_model(tiny_model, tuned, 0.0) is tiny_model
    path = save_interpolated(tiny_model, tuned, 0.5, tmp_path / "alpha.safetensors")
    assert load(str(path)).fingerprint == mid.fingerprint


def test_frontier_and_best_alpha():
    pts = [(0.0, 0.30, 0.50), (0.5, 0.40, 0.49), (0.75, 0.38, 0.40), (1.0, 0.45, 0.30)]
    assert pareto_frontier(pts) == (0.0, 0.5, 1.0)
    feasible = [(a, x, y >= 0.50 - 0.02) for a, x, y in pts]
    assert best_alpha(feasible) == 0.5
    assert best_alpha([(0.0, 0.1, False)]) is None


def test_sweep_reports_each_alpha(tiny_model, tuned, small_catalogue):
    sweep = interpolation_sweep(
        tiny_model,
        tuned,
        small_catalogue,
        train_categories=["Medical"],
        alphas=(0.5, 1.0),
        config=EvalConfig(resamples=100, ks=(1, 5), zero_shot=False),
    )
    assert [p.alpha for p in sweep.points] == [0.0, 0.5, 1.0]  # 0 is always the reference
    assert sweep.points[0].feasible
    ref = sweep.points[0].cross_category.value
    for p in sweep.points:
        assert p.feasible == (p.cross_category.value >= ref - 0.02 - 1e-12)
        assert p.in_category == p.evaluation.metrics["heldout/image_to_text/recall@5"]
    assert sweep.best_alpha in [p.alpha for p in sweep.points if p.feasible]
    assert set(sweep.frontier) <= {0.0, 0.5, 1.0} and sweep.frontier
    assert "points" in sweep.to_dict(per_query=False)
