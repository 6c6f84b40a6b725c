"""Items 4 and 12: re-using a fine-tune --out directory never loses the finished model, and a resumed
run's train_log.jsonl holds each step once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import FinetuneError
from harness.finetune.config import FinetuneConfig
from harness.finetune.launch import launch
from harness.finetune.runlog import RunFiles
from harness.models import load_checkpoint


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    from harness.data import fixture_catalogue

    return fixture_catalogue()


@pytest.fixture
def small(fixture_dir: Path, tmp_path: Path):
    def make(**overrides) -> FinetuneConfig:
        values = dict(
            data=(str(fixture_dir),),
            out=str(tmp_path / "run"),
            categories=("Medical",),
            baseline="tiny:vit-xs",
            max_train_rows=64,
            batch_size=16,
            max_steps=3,
            lr=1e-3,
            warmup_steps=1,
            precision="fp32",
            launcher="inline",
            checkpoint_every=0,
        )
        return FinetuneConfig.from_dict({**values, **overrides})

    return make


def _snapshot(files: RunFiles) -> tuple[bytes, bytes]:
    return files.model.read_bytes(), files.manifest.read_bytes()


def test_a_failed_rerun_keeps_the_finished_model(small, hostile) -> None:
    first = launch(small())
    files = RunFiles(small().out)
    before = _snapshot(files)
    # refused without a flag: the folder holds a finished model
    with pytest.raises(FinetuneError, match="already holds a finished model"):
        launch(small(seed=1))
    result = hostile.run_cli(
        "finetune",
        "--data",
        small().data[0],
        "--out",
        small().out,
        "--launcher",
        "inline",
        "--categories",
        "Medical",
        "--baseline",
        "tiny:vit-xs",
        "--max-steps",
        "3",
        "--batch-size",
        "16",
        "--max-train-rows",
        "64",
        timeout=300,
    )
    hostile.assert_one_line_error(result, 2, "already holds a finished model", "--overwrite")
    # --overwrite that fails: the old model, manifest and training log stay as they were
    with pytest.raises(FinetuneError, match="fail"):
        launch(small(seed=1, overwrite=True, fail_at_step=2))
    assert _snapshot(files) == before
    assert load_checkpoint(files.model).fingerprint == first.fingerprint
    assert (files.root / "failed-run" / "logs").is_dir()  # the failed attempt's logs, kept apart
    assert not list(files.root.glob(".staging-*"))
    # --overwrite that succeeds replaces it, and the manifest names the final path
    second = launch(small(seed=1, overwrite=True))
    assert second.fingerprint != first.fingerprint
    assert Path(second.checkpoint) == files.model
    assert json.loads(files.manifest.read_text())["checkpoint"] == str(files.model)
    assert load_checkpoint(files.model).fingerprint == second.fingerprint
    assert not list(files.root.glob(".staging-*")) and not (files.root / "failed-run").exists()


def test_resumed_train_log_holds_each_step_once(small) -> None:
    cfg = small(max_steps=8, checkpoint_every=3, keep_checkpoints=3)
    with pytest.raises(FinetuneError):
        launch(cfg.replace(fail_at_step=6))  # states at step 3; steps 4 and 5 logged, then killed
    files = RunFiles(cfg.out)
    crashed = [r["step"] for r in files.read_train_log()]
    assert 5 in crashed and not files.model.exists()
    resumed = launch(cfg.replace(resume=True))
    assert resumed.resumed_from == 3
    steps = [r["step"] for r in files.read_train_log()]
    assert len(steps) == len(set(steps)), steps
    assert steps == sorted(steps) and steps[-1] == 8


def test_out_naming_a_file_is_one_line(small, tmp_path: Path) -> None:
    """--out naming an existing file once gave a FileExistsError traceback."""
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(FinetuneError, match="exists and is not a directory"):
        launch(small(out=str(tmp_path / "taken")))
    assert (tmp_path / "taken").read_text() == "a file"
