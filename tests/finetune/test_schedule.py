"""Learning-rate schedule and weight-decay groups."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.finetune.schedule import decays, param_groups, warmup_cosine


@given(warmup=st.integers(0, 50), total=st.integers(1, 400), floor=st.floats(0, 1))
def test_warmup_rises_then_cosine_falls_to_the_floor(warmup: int, total: int, floor: float) -> None:
    f = warmup_cosine(warmup, total, floor)
    values = [f(s) for s in range(total + 1)]
    w = min(warmup, max(total - 1, 0))
    assert all(0 < v <= 1 + 1e-12 for v in values[: w + 1])
    assert all(a < b for a, b in zip(values[:w], values[1 : w + 1], strict=True))  # strictly rising warm-up
    assert all(a >= b - 1e-12 for a, b in zip(values[w:], values[w + 1 :], strict=False))  # then never rising
    assert values[w] == pytest.approx(1.0)
    assert values[total] == pytest.approx(floor)


def test_no_decay_on_gains_biases_scale_and_embeddings() -> None:
    from harness.models import load

    module = load("tiny:vit-xs").module
    named = dict(module.named_parameters())
    decayed = {n for n, p in named.items() if decays(n, p)}
    assert "logit_scale" not in decayed and "token_embedding.weight" not in decayed
    assert "positional_embedding" not in decayed and "visual.class_embedding" not in decayed
    assert not any(n.endswith(".bias") or named[n].ndim < 2 for n in decayed)
    assert "visual.transformer.resblocks.0.attn.in_proj_weight" in decayed
    groups = param_groups(module, 0.1)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert sum(len(g["params"]) for g in groups) == len(named)
    assert {id(p) for p in groups[0]["params"]} == {id(named[n]) for n in decayed}
