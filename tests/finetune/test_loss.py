"""The contrastive loss against a brute-force reference, and its 2-process gathered form."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.finetune.loss import contrastive_loss, distributed_contrastive_loss, same_group_mask


def brute_force_loss(img: np.ndarray, txt: np.ndarray, scale: float, groups: list[int]) -> float:
    """Row by row: the positive is the diagonal, same-group others are left out of the denominator."""
    n = len(img)
    sims = scale * img @ txt.T

    def direction(s: np.ndarray) -> float:
        total = 0.0
        for i in range(n):
            denom = sum(math.exp(s[i, j]) for j in range(n) if j == i or groups[j] != groups[i])
            total += -(s[i, i] - math.log(denom))
        return total / n

    return (direction(sims) + direction(sims.T)) / 2


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 12),
    d=st.integers(2, 8),
    n_groups=st.integers(1, 12),
    scale=st.floats(1.0, 100.0),
    seed=st.integers(0, 10_000),
)
def test_loss_matches_brute_force_with_groups(n: int, d: int, n_groups: int, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img, txt = _unit(rng, n, d), _unit(rng, n, d)
    groups = rng.integers(0, n_groups, size=n).tolist()
    got = contrastive_loss(
        torch.tensor(img), torch.tensor(txt), torch.tensor(scale, dtype=torch.float64), torch.tensor(groups)
    )
    assert got.item() == pytest.approx(brute_force_loss(img, txt, scale, groups), rel=1e-9, abs=1e-9)


def test_same_group_pairs_are_not_negatives() -> None:
    # items 2 and 3 are two editions of one book with identical embeddings; all others orthogonal.
    # Unmasked, each edition's twin ties with its positive (log 2 per affected row); masked, no loss.
    emb = torch.eye(4, dtype=torch.float64)[[0, 1, 2, 2]]
    scale = torch.tensor(100.0, dtype=torch.float64)
    masked = contrastive_loss(emb, emb, scale, torch.tensor([0, 1, 2, 2]))
    unmasked = contrastive_loss(emb, emb, scale, torch.tensor([0, 1, 2, 3]))
    assert masked.item() < 1e-12
    assert unmasked.item() == pytest.approx(2 * math.log(2) / 4, rel=1e-9)


def test_mask_is_symmetric_and_off_diagonal() -> None:
    mask = same_group_mask(torch.tensor([5, 7, 5, 5, 1]))
    assert torch.equal(mask, mask.T)
    assert not mask.diagonal().any()
    assert mask.sum().item() == 6  # three items of group 5: 3*2 ordered pairs


def brute_force_prompt_loss(img: np.ndarray, txt: np.ndarray, scale: float, groups: list[int]) -> float:
    """As `brute_force_loss`; negative groups are category-prompt rows, which meet only each other."""
    n = len(img)
    sims = scale * img @ txt.T

    def negative(i: int, j: int) -> bool:
        return groups[j] != groups[i] and (groups[i] < 0) == (groups[j] < 0)

    def direction(s: np.ndarray) -> float:
        return (
            sum(
                -(s[i, i] - math.log(sum(math.exp(s[i, j]) for j in range(n) if j == i or negative(i, j))))
                for i in range(n)
            )
            / n
        )

    return (direction(sims) + direction(sims.T)) / 2


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 12),
    d=st.integers(2, 8),
    n_books=st.integers(1, 8),
    n_categories=st.integers(1, 3),
    share=st.floats(0.0, 1.0),
    scale=st.floats(1.0, 100.0),
    seed=st.integers(0, 10_000),
)
def test_loss_with_category_prompt_rows_matches_brute_force(
    n: int, d: int, n_books: int, n_categories: int, share: float, scale: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    img, txt = _unit(rng, n, d), _unit(rng, n, d)
    books = rng.integers(0, n_books, size=n)
    groups = np.where(rng.random(n) < share, -1 - books % n_categories, books).tolist()
    got = contrastive_loss(
        torch.tensor(img), torch.tensor(txt), torch.tensor(scale, dtype=torch.float64), torch.tensor(groups)
    )
    assert got.item() == pytest.approx(brute_force_prompt_loss(img, txt, scale, groups), rel=1e-9, abs=1e-9)


def test_category_prompt_rows_meet_only_each_other() -> None:
    # rows 0, 1: titles of two books; 2, 3: the prompt of category -1; 4: the prompt of category -2
    mask = same_group_mask(torch.tensor([0, 1, -1, -1, -2]))
    assert mask.tolist() == [
        [False, False, True, True, True],
        [False, False, True, True, True],
        [True, True, False, True, False],
        [True, True, True, False, False],
        [True, True, False, False, False],
    ]
    # title rows alone: the loss of earlier runs, bit for bit
    gen = torch.Generator().manual_seed(0)
    img, txt = (torch.nn.functional.normalize(torch.randn(6, 4, generator=gen), dim=-1) for _ in range(2))
    scale, books = torch.tensor(10.0), torch.tensor([0, 1, 2, 2, 3, 4])
    with_prompts = contrastive_loss(
        torch.cat([img, img[:2]]), torch.cat([txt, txt[:2]]), scale, torch.cat([books, torch.tensor([-1, -2])])
    )
    titles = contrastive_loss(img, txt, scale, books)
    prompts = contrastive_loss(img[:2], txt[:2], scale, torch.tensor([-1, -2]))
    assert with_prompts.item() == pytest.approx((6 * titles.item() + 2 * prompts.item()) / 8, rel=1e-6)


def _features(data: dict, params: dict, part: slice) -> tuple[torch.Tensor, torch.Tensor]:
    norm = torch.nn.functional.normalize
    return norm(data["x_img"][part] @ params["w_img"], dim=-1), norm(data["x_txt"][part] @ params["w_txt"], dim=-1)


def _fresh_params(data: dict) -> dict:
    return {k: data[k].clone().requires_grad_(True) for k in ("w_img", "w_txt", "scale")}


def _rank_main(rank: int, world: int, store: str, data: dict, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        params = _fresh_params(data)  # replicated, as DDP keeps them
        part = slice(rank * data["n"] // world, (rank + 1) * data["n"] // world)
        img, txt = _features(data, params, part)
        loss = distributed_contrastive_loss(img, txt, params["scale"], data["groups"][part])
        loss.backward()
        for p in params.values():  # what DDP does with the gradients of replicated parameters
            dist.all_reduce(p.grad)
            p.grad /= world
        torch.save(
            {"loss": loss.detach(), **{k: p.grad for k, p in params.items()}}, os.path.join(out, f"rank{rank}.pt")
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gather_gives_the_single_process_loss_and_gradient(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    n = 10
    data = {
        "n": n,
        "x_img": torch.randn(n, 6, generator=gen, dtype=torch.float64),
        "x_txt": torch.randn(n, 6, generator=gen, dtype=torch.float64),
        "w_img": torch.randn(6, 4, generator=gen, dtype=torch.float64),
        "w_txt": torch.randn(6, 4, generator=gen, dtype=torch.float64),
        "scale": torch.tensor(14.0, dtype=torch.float64),
        "groups": torch.tensor([0, 1, 2, 2, 3, 4, 1, 5, 6, 7]),
    }  # group 1 spans both ranks' slices
    mp.start_processes(
        _rank_main, args=(2, str(tmp_path / "store"), data, str(tmp_path)), nprocs=2, start_method="spawn"
    )
    params = _fresh_params(data)
    img, txt = _features(data, params, slice(0, n))
    ref = contrastive_loss(img, txt, params["scale"], data["groups"])
    ref.backward()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got["loss"].item() == pytest.approx(ref.item(), rel=1e-12)
        for name, p in params.items():
            torch.testing.assert_close(got[name], p.grad, rtol=1e-10, atol=1e-12)
