"""FinetuneConfig: round trips, validation messages, TOML + overrides, recipe identity."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.finetune.config import FinetuneConfig


@settings(max_examples=50, deadline=None)
@given(
    procs=st.integers(1, 4),
    accum=st.integers(1, 4),
    per=st.integers(2, 16),
    lr=st.floats(1e-6, 1.0),
    seed=st.integers(0, 2**31),
    cats=st.lists(st.text("abcXYZ-", min_size=1), min_size=1, max_size=3),
)
def test_dict_round_trip_and_micro_batch(
    procs: int, accum: int, per: int, lr: float, seed: int, cats: list[str]
) -> None:
    cfg = FinetuneConfig(
        data=("a",),
        out="o",
        num_processes=procs,
        grad_accum=accum,
        batch_size=procs * accum * per,
        lr=lr,
        seed=seed,
        categories=tuple(cats),
    )
    again = FinetuneConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.micro_batch(procs) == per


def test_unknown_option_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown fine-tune option.*batchsize"):
        FinetuneConfig.from_dict({"batchsize": 3})


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"batch_size": 10, "num_processes": 4}, "multiple of num_processes"),
        ({"launcher": "mpi"}, "launcher='mpi'"),
        ({"precision": "fp8"}, "precision"),
        ({"template": "{titel}"}, "caption template"),
        ({"heldout_fraction": 1.0}, "heldout_fraction"),
        ({"epochs": 0}, "positive integer"),
        ({"compile": "yes"}, "compile=.yes. must be true or false"),
        ({"category_prompt_fraction": 1.0}, r"category_prompt_fraction must lie in \[0, 1\), got 1"),
        ({"category_prompt_fraction": -0.1}, "category_prompt_fraction must lie in"),
        ({"category_prompt_fraction": "half"}, "category_prompt_fraction must be a finite number"),
    ],
)
def test_bad_values_raise_one_line(values: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        FinetuneConfig.from_dict(values)
    assert "\n" not in str(info.value)


def test_toml_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "ft.toml"
    path.write_text('[finetune]\ndata = ["cat/"]\nlr = 0.001\nepochs = 3\ncategories = ["Medical", "Health"]\n')
    cfg = FinetuneConfig.from_toml(path, epochs=5, out="run")
    expected = (("cat/",), 0.001, 5, "run", ("Medical", "Health"))
    assert (cfg.data, cfg.lr, cfg.epochs, cfg.out, cfg.categories) == expected
    path.write_text("lr = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        FinetuneConfig.from_toml(path)


def test_recipe_hash_follows_training_options_only() -> None:
    base = FinetuneConfig(data=("a",), out="o")
    assert base.replace(launcher="torchrun", out="elsewhere", num_processes=2).recipe_hash() == base.recipe_hash()
    assert base.replace(lr=base.lr * 2).recipe_hash() != base.recipe_hash()
    assert base.replace(categories=("Health",)).recipe_hash() != base.recipe_hash()


def test_compile_flag_reaches_the_config() -> None:
    import argparse

    from harness.cli.finetune import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    on = config_from_args(parser.parse_args(["finetune", "--out", "o", "--compile"]))
    off = config_from_args(parser.parse_args(["finetune", "--out", "o"]))
    assert on.compile and not off.compile
    assert on.recipe_hash() == off.recipe_hash()  # how steps run, not what they learn


@pytest.mark.parametrize("value", [1.0, -0.1, True, "half"])
def test_replay_fraction_is_checked(value) -> None:
    with pytest.raises(ConfigError, match="replay_fraction") as info:
        FinetuneConfig.from_dict({"replay_fraction": value})
    assert "\n" not in str(info.value)


def test_training_rows_add_the_rehearsed_books_and_nothing_evaluated(tmp_path: Path) -> None:
    from harness.data import fixture_catalogue
    from harness.finetune.data import run_splits, training_rows

    cfg = FinetuneConfig(data=(str(fixture_catalogue()),), out=str(tmp_path), replay_fraction=0.25)
    splits = run_splits(cfg)
    rows = set(training_rows(cfg).frame["book_id"])
    assert rows == set(splits.train.frame["book_id"]) | set(splits.replay.frame["book_id"])
    assert splits.replay_rows > 0 and set(splits.replay.categories).isdisjoint(cfg.categories)
    for view in (splits.heldout, splits.cross):
        assert rows.isdisjoint(view.frame["book_id"]) and set(training_rows(cfg).frame["group_id"]).isdisjoint(
            view.frame["group_id"]
        )
    assert cfg.replace(replay_fraction=0.0).recipe_hash() != cfg.recipe_hash()


def test_category_prompts_change_the_recipe_only_when_asked() -> None:
    base = FinetuneConfig(data=("a",), out="o")
    # the default leaves the recipe, and so the hash of every earlier run and checkpoint, as it was
    assert "category_prompt_fraction" not in base.recipe()
    assert base.replace(category_prompt_fraction=0.0).recipe_hash() == base.recipe_hash()
    prompted = base.replace(category_prompt_fraction=0.3)
    assert prompted.recipe()["category_prompt_fraction"] == 0.3 and prompted.recipe_hash() != base.recipe_hash()
    assert FinetuneConfig.from_dict(prompted.to_dict()) == prompted


def test_category_prompt_rows_are_a_seeded_share_drawn_afresh_each_epoch() -> None:
    import numpy as np

    from harness.finetune.data import category_prompt_rows

    first = category_prompt_rows(1000, 0.3, 0, 0)
    assert first.dtype == bool and first.sum() == 300
    assert np.array_equal(first, category_prompt_rows(1000, 0.3, 0, 0))
    assert not np.array_equal(first, category_prompt_rows(1000, 0.3, 0, 1))
    assert not np.array_equal(first, category_prompt_rows(1000, 0.3, 1, 0))
    assert not category_prompt_rows(1000, 0.0, 0, 0).any()
