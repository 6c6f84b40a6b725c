"""The engine interface: names, the local engine is retrieval_ranks, block assembly is exact."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import ConfigError
from harness.evaluate.engines import ENGINES, check_engine, get_engine
from harness.evaluate.evaluation import EvalConfig
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


@pytest.mark.parametrize("blocks", [1, 2, 5])
def test_blocks_in_any_order_give_the_one_pass_ranks(blocks: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 8)).astype(np.float32)
    y = (x + rng.standard_normal((90, 8))).astype(np.float32)
    groups = [f"g{i // 2}" for i in range(90)]
    want = retrieval_ranks(x, y, groups, chunk_bytes=4 * 90 * 10)
    [job] = rank_jobs(x, y, groups, chunk_bytes=4 * 90 * 10)
    starts = block_starts(job.plan, blocks)
    assert all(s % job.plan.chunk == 0 for s in starts)
    parts = [rank_block(job.plan, job.rows[a:b], job.cols.T.contiguous(), start=a)
             for a, b in zip(starts, starts[1:] + [90])]
    rows, cols = finish_ranks(job.plan, parts[::-1] + parts[:1], job.rows, job.cols)  # shuffled, one repeated
    np.testing.assert_array_equal(rows, want["image_to_text"].ranks)
    np.testing.assert_array_equal(cols, want["text_to_image"].ranks)


def test_local_engine_is_retrieval_ranks() -> None:
    x = torch.eye(3).numpy()
    got = get_engine("local").retrieval_ranks(x, x, ["a", "b", "c"])
    assert got["image_to_text"].ranks.tolist() == [1, 1, 1]
    assert get_engine("local").describe()["name"] == "local"
