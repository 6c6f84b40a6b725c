"""The training loop run inline (one process): it learns, checkpoints, resumes exactly, freezes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from harness.errors import FinetuneError
from harness.finetune.launch import launch
from harness.finetune.runlog import RunFiles
from harness.models import fingerprint_state_dict, load, load_checkpoint, save_checkpoint

pytestmark = pytest.mark.slow  # each test trains a model for a few steps (several seconds on 2 cores)


def test_inline_run_learns_and_writes_a_loadable_checkpoint(small_config) -> None:
    cfg = small_config(max_steps=6, checkpoint_every=3)
    manifest = launch(cfg)
    files = RunFiles(cfg.out)
    log = files.read_train_log()
    assert [r["step"] for r in log][-1] == 6 and manifest.steps == 6
    assert log[-1]["loss"] < log[0]["loss"]  # 64 covers, 6 steps at 1e-3: the loss falls
    trained, base = load(manifest.checkpoint), load("tiny:vit-xs")
    assert trained.fingerprint != base.fingerprint
    assert fingerprint_state_dict(trained.state_dict()) == manifest.fingerprint
    meta = load_checkpoint(manifest.checkpoint).metadata
    assert meta["parent_fingerprint"] == base.fingerprint == manifest.parent_fingerprint
    assert meta["steps"] == 6 and meta["training_config"]["lr"] == cfg.lr
    assert manifest.train_rows == 64 and manifest.world_size == 1 and manifest.samples_per_s > 0
    assert sorted(p.name for p in files.checkpoints.iterdir()) == ["step-00000003.pt", "step-00000006.pt"]


def test_resume_after_a_crash_matches_an_uninterrupted_run(small_config, tmp_path: Path) -> None:
    # 64 rows / batch 16 = 4 steps an epoch: the crash lands mid-epoch and the resumed run crosses an epoch
    straight = launch(small_config(out=str(tmp_path / "straight"), max_steps=6))
    crashed_cfg = small_config(out=str(tmp_path / "crashed"), max_steps=6, checkpoint_every=3, fail_at_step=4)
    with pytest.raises(FinetuneError, match="rank 0 failed: FinetuneError: injected failure") as info:
        launch(crashed_cfg)
    assert "\n" not in str(info.value)
    files = RunFiles(crashed_cfg.out)
    assert not files.model.exists() and not files.manifest.exists()  # no checkpoint that looks finished
    assert [p.name for p in files.checkpoints.iterdir()] == ["step-00000003.pt"]
    resumed = launch(crashed_cfg.replace(fail_at_step=None, resume=True))
    assert resumed.resumed_from == 3 and resumed.steps == 6
    a = load_checkpoint(straight.checkpoint).state_dict
    b = load_checkpoint(resumed.checkpoint).state_dict
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= 1e-6
    assert resumed.final_loss == pytest.approx(straight.final_loss, abs=1e-6)


def test_resume_refuses_a_changed_recipe(small_config, tmp_path: Path) -> None:
    cfg = small_config(out=str(tmp_path / "r"), max_steps=2, checkpoint_every=1)
    launch(cfg)
    with pytest.raises(FinetuneError, match="different lr"):
        launch(cfg.replace(lr=cfg.lr / 2, resume=True))


def test_frozen_vision_tower_stays_put(small_config) -> None:
    manifest = launch(small_config(freeze="vision", max_steps=2))
    before, after = load("tiny:vit-xs").state_dict(), load_checkpoint(manifest.checkpoint).state_dict
    visual = [k for k in before if k.startswith("visual.")]
    assert visual and all(torch.equal(before[k], after[k]) for k in visual)
    assert not torch.equal(before["token_embedding.weight"], after["token_embedding.weight"])


def test_logit_scale_is_clamped_to_ln_100(small_config, tmp_path: Path) -> None:
    base = load("tiny:vit-xs")
    state = base.state_dict()
    state["logit_scale"] = torch.tensor(6.0)  # exp(6) = 403 > 100
    path = tmp_path / "hot.safetensors"
    save_checkpoint(path, state, config=base.config, metadata={})
    manifest = launch(small_config(baseline=str(path), max_steps=1))
    scale = load_checkpoint(manifest.checkpoint).state_dict["logit_scale"]
    assert scale.item() <= math.log(100) + 1e-6


def test_compiled_model_trains_the_same_weights(small_config, tmp_path: Path) -> None:
    """--compile changes how the steps run (inductor kernels), not what is learned."""
    eager = launch(small_config(out=str(tmp_path / "eager"), max_steps=3))
    compiled = launch(small_config(out=str(tmp_path / "compiled"), max_steps=3, compile=True))
    assert compiled.recipe_hash == eager.recipe_hash  # an execution option, not part of the recipe
    a = load_checkpoint(eager.checkpoint).state_dict
    b = load_checkpoint(compiled.checkpoint).state_dict
    assert any(not torch.equal(a[k], load("tiny:vit-xs").state_dict()[k]) for k in a)
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= 1e-4  # float rounding of fused kernels only
    assert compiled.final_loss == pytest.approx(eager.final_loss, abs=1e-4)


def test_category_prompt_rows_carry_their_prompt_and_one_group_per_category(small_config) -> None:
    import logging

    from harness.finetune.train import _Trainer

    cfg = small_config(categories=("Medical", "Health"), max_train_rows=200, category_prompt_fraction=0.25)
    trainer = _Trainer(cfg, logging.getLogger("test"), RunFiles(cfg.out))
    trainer.rank, trainer.world, trainer.distributed, trainer.device = 0, 1, False, torch.device("cpu")
    trainer._load_model()
    trainer._load_data()
    books = trainer.groups.clone()
    tokens, groups = trainer._epoch_captions(0)
    prompted = (tokens != trainer.tokens).any(dim=1)
    assert int(prompted.sum()) == 50 and torch.equal(trainer.groups, books)  # the template's rows stay as they were
    tokenizer = trainer.model.tokenizer
    categories = trainer.train.frame["category"].tolist()
    for i in torch.nonzero(prompted).flatten().tolist():
        expected = "a book about " + categories[i]
        assert torch.equal(tokens[i], tokenizer([expected])[0])
    assert torch.equal(groups[~prompted], books[~prompted]) and (books >= 0).all()
    prompt_groups = {
        c: {int(g) for g, cc, p in zip(groups, categories, prompted, strict=True) if p and cc == c}
        for c in ("Medical", "Health")
    }
    assert all(len(g) == 1 and min(g) < 0 for g in prompt_groups.values())  # one negative group per category
    assert prompt_groups["Medical"] != prompt_groups["Health"]
    later, _ = trainer._epoch_captions(1)
    assert not torch.equal((later != trainer.tokens).any(dim=1), prompted)  # drawn afresh each epoch
    manifest = launch(cfg.replace(max_steps=3))  # the loop trains on them: 200 rows of batch 16, epoch 0
    assert manifest.steps == 3 and math.isfinite(manifest.final_loss)
    assert load_checkpoint(manifest.checkpoint).metadata["training_config"]["category_prompt_fraction"] == 0.25
