"""The engine interface: names, the local engine is retrieval_ranks, block assembly is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import ConfigError, EvaluationError
from harness.evaluate.engines import ENGINES, check_engine, get_engine
from harness.evaluate.evaluation import EvalConfig
from harness.evaluate.pieces import piece_bounds
from harness.evaluate.retrieval import block_starts, finish_ranks, rank_block, rank_jobs, retrieval_ranks


def test_engine_names_are_checked_in_one_line() -> None:
    assert ENGINES == ("local", "spark-local", "spark-cluster")
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        check_engine("spark")
    with pytest.raises(ConfigError):
        EvalConfig(engine="gpu")
    assert EvalConfig().engine == "local"


def test_config_and_plugin_take_the_engine() -> None:
    from harness.config import build_config

    assert build_config({"engine": "spark-local"}).engine == "spark-local"
    assert build_config({}).engine == "local"
    with pytest.raises(ConfigError):
        build_config({"engine": "yarn"})


@pytest.mark.parametrize("blocks, pieces", [(1, 1), (2, 3), (5, 7)])
def test_blocks_and_pieces_in_any_order_give_the_one_pass_ranks(blocks: int, pieces: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 8)).astype(np.float32)
    y = (x + rng.standard_normal((90, 8))).astype(np.float32)
    groups = [f"g{i // 2}" for i in range(90)]
    want = retrieval_ranks(x, y, groups)
    [job] = rank_jobs(x, y, groups, tile_rows=4, chunk_bytes=4 * 4 * 9)
    starts = block_starts(job.plan, blocks)
    bounds = piece_bounds(90, 8, 4 * 8 * -(-90 // pieces))
    parts = [
        rank_block(job.plan, job.rows[a:b], job.cols[c0:c1], start=a, c0=c0)
        for a, b in zip(starts, starts[1:] + [90], strict=True)
        for c0, c1 in zip(bounds, bounds[1:], strict=False)
    ]
    totals = finish_ranks(job.plan, parts[::-1] + parts[:1])  # shuffled, one repeated
    np.testing.assert_array_equal(totals.row_ranks, want["image_to_text"].ranks)
    np.testing.assert_array_equal(totals.col_ranks, want["text_to_image"].ranks)
    with pytest.raises(EvaluationError, match="a block's result is missing"):
        finish_ranks(job.plan, parts[1:])


def test_local_engine_is_retrieval_ranks() -> None:
    x = torch.eye(3).numpy()
    got = get_engine("local").retrieval_ranks(x, x, ["a", "b", "c"])
    assert got["image_to_text"].ranks.tolist() == [1, 1, 1]
    assert get_engine("local").describe()["name"] == "local"


def test_local_engine_reports_its_certificate() -> None:
    x = np.eye(3, dtype=np.float32)
    engine = get_engine("local", kernel="bfloat16")
    engine.retrieval_ranks(x, x, ["a", "b", "c"])
    exact = engine.describe()["ranks"]["exact"]
    assert exact["kernel"] == "bfloat16" and exact["pairs"] == 6 and exact["relative_bound"] > 2**-8
    with pytest.raises(ConfigError, match="unknown score kernel 'fp8'"):
        get_engine("local", kernel="fp8")
