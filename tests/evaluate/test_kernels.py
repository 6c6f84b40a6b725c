"""Score kernels: the exact score is the same everywhere and each kernel's stated bound holds."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from harness.errors import ConfigError
from harness.evaluate.kernels import KERNELS, certified_bound, exact_scores, gamma, get_kernel, round_down, round_up


def exact_fraction(x: np.ndarray, y: np.ndarray) -> Fraction:
    return sum((Fraction(float(a)) * Fraction(float(b)) for a, b in zip(x, y, strict=True)), Fraction(0))


@pytest.mark.parametrize("dim", [1, 3, 24, 512, 768])
def test_exact_scores_are_within_their_own_bound_of_the_real_product(dim):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((40, dim)).astype(np.float32)
    y = rng.standard_normal((40, dim)).astype(np.float32)
    got = exact_scores(torch.from_numpy(x), torch.from_numpy(y), np.arange(40), np.arange(40)[::-1].copy())
    for i, j in enumerate(range(39, -1, -1)):
        real = exact_fraction(x[i], y[j])
        scale = float(np.abs(x[i].astype(np.float64)) @ np.abs(y[j].astype(np.float64)))
        assert abs(Fraction(got[i]) - real) <= Fraction(gamma(max(1, (dim - 1).bit_length()), 2.0**-53) * scale)


def test_identical_vectors_tie_exactly_whatever_the_batch():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 512)).astype(np.float32)
    c = np.repeat(rng.standard_normal((1, 512)).astype(np.float32), 3000, axis=0)
    got = exact_scores(torch.from_numpy(q), torch.from_numpy(c), np.zeros(3000, np.int64), np.arange(3000))
    alone = exact_scores(torch.from_numpy(q), torch.from_numpy(c[:1]), np.zeros(1, np.int64), np.zeros(1, np.int64))
    assert len(set(got.tolist())) == 1 and got[0] == alone[0]


@pytest.mark.parametrize("name", list(KERNELS))
def test_each_kernel_stays_within_its_stated_bound(name):
    kernel = get_kernel(name)
    rng = np.random.default_rng(1)
    d = 512
    x = rng.standard_normal((64, d)).astype(np.float32) * rng.uniform(0.01, 3.0, (64, 1)).astype(np.float32)
    y = rng.standard_normal((80, d)).astype(np.float32)
    fast = kernel.scores(torch.from_numpy(x), torch.from_numpy(y).T, torch.empty(64, 80)).numpy().astype(np.float64)
    rows, cols = np.meshgrid(np.arange(64), np.arange(80), indexing="ij")
    exact = exact_scores(torch.from_numpy(x), torch.from_numpy(y), rows.ravel(), cols.ravel()).reshape(64, 80)
    relative, absolute = certified_bound(kernel, d)
    norms = np.linalg.norm(x.astype(np.float64), axis=1)[:, None] * np.linalg.norm(y.astype(np.float64), axis=1)
    error = np.abs(fast - exact)
    assert (error <= relative * norms + absolute).all()
    if name == "bfloat16":  # really reduced on CPU (TF32 exists on GPUs only): the test can tell kernels apart
        assert error.max() > certified_bound(KERNELS["float32"], d)[0] * norms.max()


def test_bounds_follow_precision_and_width():
    assert KERNELS["float32"].relative_bound(512) == pytest.approx(gamma(512, 2.0**-24))
    assert (
        KERNELS["float32"].relative_bound(512)
        < KERNELS["tf32"].relative_bound(512)
        < KERNELS["bfloat16"].relative_bound(512)
    )
    assert KERNELS["float32"].relative_bound(768) > KERNELS["float32"].relative_bound(512)
    with pytest.raises(ConfigError, match="no error bound"):
        gamma(300, 2.0**-8)  # 300 roundings at 2^-8: no finite bound
    with pytest.raises(ConfigError, match="unknown score kernel 'fp16'.*float32, tf32, bfloat16"):
        get_kernel("fp16")


def test_directed_rounding_brackets_the_float64_value():
    x = np.array([0.1, -0.1, 1 / 3, 1.0, -2.5e-8])
    assert (round_down(x).astype(np.float64) <= x).all() and (round_up(x).astype(np.float64) >= x).all()
    assert (round_up(x) - round_down(x) <= np.spacing(np.abs(x).astype(np.float32))).all()
