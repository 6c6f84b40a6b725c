"""Fine-tuning methods (plain, distill, wise): in the recipe, under every launcher, resumed exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, FinetuneError
from harness.finetune.config import FinetuneConfig


def _state(manifest):
    from harness.models import load_checkpoint

    return load_checkpoint(manifest.checkpoint)


def _worst(a, b) -> float:
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_method_is_part_of_the_recipe_and_validated() -> None:
    plain, distill, wise = (FinetuneConfig(method=m) for m in ("plain", "distill", "wise"))
    assert len({plain.recipe_hash(), distill.recipe_hash(), wise.recipe_hash()}) == 3
    assert plain.recipe()["method"] == "plain" and plain.recipe()["validation_fraction"] == 0.0
    assert distill.recipe()["distill_weight"] == 1.0
    assert FinetuneConfig(method="distill", distill_weight=2.0).recipe_hash() != distill.recipe_hash()
    assert wise.recipe()["validation_fraction"] == 0.15 and wise.validation_share == 0.15
    assert FinetuneConfig(validation_fraction=0.3).validation_share == 0.0  # only wise keeps books out
    with pytest.raises(ConfigError, match="method='lwf' is not one of plain, distill, wise"):
        FinetuneConfig(method="lwf")
    with pytest.raises(ConfigError, match="validation_fraction"):
        FinetuneConfig(method="wise", validation_fraction=0.9)


def test_method_from_toml_and_replay_combine(tmp_path: Path) -> None:
    toml = tmp_path / "ft.toml"
    toml.write_text('[finetune]\nmethod = "distill"\nreplay_fraction = 0.3\ndistill_weight = 4.0\n')
    cfg = FinetuneConfig.from_toml(toml)
    assert (cfg.method, cfg.replay_fraction, cfg.distill_weight) == ("distill", 0.3, 4.0)


def test_wise_validation_books_are_never_trained_on(small_config) -> None:
    from harness.data.split import rows_trained_on, validation_rows
    from harness.finetune.data import run_splits, training_rows

    cfg = small_config(method="wise", replay_fraction=0.3, max_train_rows=None)
    splits = run_splits(cfg)
    trained, held = training_rows(cfg), validation_rows(splits, cfg.seed, cfg.validation_share)
    assert len(held) > 0 and not set(trained.frame["group_id"]) & set(held.frame["group_id"])
    assert set(held.categories) - {"Medical"}, "rehearsed books are in the validation split too"
    assert len(trained) + len(held) == len(rows_trained_on(splits, None, cfg.seed))
    for view in (splits.heldout, splits.cross):
        assert not set(view.frame["group_id"]) & set(held.frame["group_id"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["distill", "wise"])
def test_method_resumes_exactly(method, small_config, tmp_path: Path) -> None:
    from harness.finetune.launch import launch

    extra = {"method": method, "replay_fraction": 0.3, "max_steps": 6}
    straight = launch(small_config(out=str(tmp_path / "straight"), **extra))
    crashed = small_config(out=str(tmp_path / "crashed"), checkpoint_every=3, fail_at_step=4, **extra)
    with pytest.raises(FinetuneError, match="injected failure"):
        launch(crashed)
    resumed = launch(crashed.replace(fail_at_step=None, resume=True))
    assert resumed.resumed_from == 3 and resumed.steps == 6
    a, b = _state(straight), _state(resumed)
    assert _worst(a.state_dict, b.state_dict) <= 1e-6
    assert a.metadata["training_config"]["method"] == method
    if method == "wise":
        record = a.metadata["wise"]
        assert record == b.metadata["wise"] and 0.0 <= record["alpha"] <= 1.0
        assert [s["alpha"] for s in record["validation"]][0] == 0.0


@pytest.mark.slow
def test_distill_pulls_toward_the_baseline(small_config, tmp_path: Path) -> None:
    from harness.finetune.launch import launch
    from harness.models import load

    base = load("tiny:vit-xs").state_dict()
    plain = _state(launch(small_config(out=str(tmp_path / "plain"), max_steps=6))).state_dict
    distill = _state(
        launch(small_config(out=str(tmp_path / "distill"), max_steps=6, method="distill", distill_weight=50.0))
    ).state_dict
    distance = lambda s: sum((s[k].double() - base[k].double()).pow(2).sum().item() for k in base)  # noqa: E731
    assert distance(distill) < distance(plain)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", pytest.param("spark-local", marks=pytest.mark.spark)])
@pytest.mark.parametrize("method", ["distill", "wise"])
def test_method_trains_alike_under_every_launcher(method, launcher, small_config, tmp_path: Path) -> None:
    from harness.finetune.launch import launch

    extra = {"method": method, "replay_fraction": 0.3, "max_steps": 3}
    two = launch(small_config(out=str(tmp_path / "two"), launcher=launcher, num_processes=2, **extra))
    one = launch(small_config(out=str(tmp_path / "one"), **extra))
    assert two.world_size == 2
    a, b = _state(two), _state(one)
    assert _worst(a.state_dict, b.state_dict) < 1e-4
    if method == "wise":
        assert a.metadata["wise"]["alpha"] == b.metadata["wise"]["alpha"]
