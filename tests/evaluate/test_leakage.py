"""training_overlap: the evaluated books a checkpoint was trained on, derived from its metadata."""

from __future__ import annotations

import pytest

from harness.data import fixture_catalogue, load_catalogue, split
from harness.evaluate.leakage import training_overlap


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(fixture_catalogue())[0]


@pytest.fixture
def checkpoint(tmp_path):
    """A real checkpoint file with the given metadata, loaded back."""
    from harness.models import load, save_checkpoint

    base = load("tiny:vit-xs")

    def make(metadata: dict):
        path = tmp_path / f"ckpt{len(list(tmp_path.iterdir()))}.safetensors"
        save_checkpoint(path, base.state_dict(), config=base.config, metadata=metadata)
        return load(str(path))

    return make


def _trained(checkpoint, catalogue, **training):
    """Metadata as a fine-tune here writes it: its recipe and the fingerprint of its training rows."""
    splits = split(
        catalogue,
        train_categories=training["categories"],
        seed=training.get("seed", 0),
        heldout_fraction=training.get("heldout_fraction", 0.2),
        replay_fraction=training.get("replay_fraction", 0.0),
    )
    rows = splits.train if splits.replay is None else splits.train.concat(splits.replay)
    return checkpoint({"training_config": training, "data_fingerprint": rows.fingerprint})


def test_a_candidate_split_with_another_seed_is_caught_book_by_book(checkpoint, catalogue):
    model = _trained(checkpoint, catalogue, categories=["Mind-Body-Spirit"], seed=1)
    views = split(catalogue, train_categories=["Mind-Body-Spirit"], seed=0)
    overlap = training_overlap(model, catalogue, {"heldout": views.heldout, "cross": views.cross})
    trained = set(split(catalogue, train_categories=["Mind-Body-Spirit"], seed=1).train.frame["group_id"])
    expected = int(views.heldout.frame["group_id"].isin(trained).sum())
    assert overlap.known and overlap.views == {"heldout": expected, "cross": 0} and expected > 0


def test_the_same_split_has_no_overlap_and_replay_is_honoured(checkpoint, catalogue):
    model = _trained(checkpoint, catalogue, categories=["Mind-Body-Spirit"], seed=0, replay_fraction=0.3)
    views = split(catalogue, train_categories=["Mind-Body-Spirit"], seed=0, replay_fraction=0.3)
    overlap = training_overlap(model, catalogue, {"heldout": views.heldout, "cross": views.cross})
    assert overlap.known and overlap.views == {"heldout": 0, "cross": 0}
    plain = split(catalogue, train_categories=["Mind-Body-Spirit"], seed=0)  # a view that ignores the replay
    assert training_overlap(model, catalogue, {"cross": plain.cross}).views == {"cross": views.replay_rows}


@pytest.mark.parametrize(
    "metadata, reason",
    [
        ({}, "does not record"),
        ({"training_config": {"categories": ["Mind-Body-Spirit"]}, "data_fingerprint": "0" * 64}, "other data"),
        ({"training_config": {"categories": ["Poetry"]}, "data_fingerprint": "0" * 64}, "cannot be derived"),
    ],
)
def test_unknown_training_is_said_not_guessed(checkpoint, catalogue, metadata, reason):
    overlap = training_overlap(checkpoint(metadata), catalogue, {"heldout": catalogue})
    assert not overlap.known and reason in overlap.reason and overlap.views == {}
