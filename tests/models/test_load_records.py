"""A checkpoint loaded once is loaded again from its record (harness.models.load_records): nothing is
built until the model is used, with the same identity; a changed file, other code versions or weights
that do not match the record are a full load or an error, never another model's numbers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import CheckpointError
from harness.models import build, load, load_records, save_checkpoint


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every open_clip model built (the meta-device shape check included)."""
    calls: list[int] = []
    real = build.build_model

    def counting(config, seed=0):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(config, seed)

    monkeypatch.setattr(build, "build_model", counting)
    return calls


@pytest.fixture
def checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(tmp_path / "cache"))
    model = load("tiny:vit-xs@2")
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model.state_dict(), config=model.config, metadata={"note": "first"})
    return path


def test_second_load_builds_nothing_and_is_the_same_model(checkpoint: Path, builds: list[int]) -> None:
    first = load(str(checkpoint))
    assert builds and first.built and first.tokenizer_built
    builds.clear()
    second = load(str(checkpoint))
    assert builds == [] and not second.built and not second.tokenizer_built
    assert (second.identity, second.fingerprint, second.context_length) == (
        first.identity,
        first.fingerprint,
        first.context_length,
    )
    assert second.identity_parts() == first.identity_parts() and second.metadata == first.metadata
    assert second.device == torch.device("cpu") and not second.built  # asking where it lives builds nothing
    titles = ["The Power of Now", " ".join(["spirituality"] * 40)]
    assert torch.equal(second.encode_texts(titles), first.encode_texts(titles))
    assert builds == [1] and second.built and second.identity == first.identity


def test_a_touched_or_rewritten_file_is_loaded_in_full(checkpoint: Path, builds: list[int]) -> None:
    first = load(str(checkpoint))
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same bytes, new mtime
    builds.clear()
    touched = load(str(checkpoint))
    assert builds and touched.built and touched.identity == first.identity
    other = load("tiny:vit-xs@3")
    save_checkpoint(checkpoint, other.state_dict(), config=other.config)
    builds.clear()
    rewritten = load(str(checkpoint))
    assert builds and rewritten.fingerprint == other.fingerprint != first.fingerprint
    builds.clear()
    assert load(str(checkpoint)).identity == rewritten.identity and builds == []  # recorded again


def test_other_code_versions_are_a_full_load(
    checkpoint: Path, builds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(str(checkpoint))
    monkeypatch.setattr(load_records, "_code_versions", lambda: "open_clip 99.0")
    builds.clear()
    assert load(str(checkpoint)).built and builds


def test_weights_other_than_recorded_fail_when_built(checkpoint: Path) -> None:
    load(str(checkpoint))
    (record,) = (Path(os.environ["BOOKCLIP_CACHE_DIR"]) / "models").iterdir()
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "fingerprint": "0" * 64}))  # as if the file changed under its stats
    model = load(str(checkpoint))
    assert not model.built
    with pytest.raises(CheckpointError, match="not the ones recorded"):
        model.encode_texts(["a title"])


def test_an_unwritable_cache_only_costs_the_record(
    checkpoint: Path, builds: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("BOOKCLIP_CACHE_DIR", str(blocker))
    assert load(str(checkpoint)).built and load(str(checkpoint)).built


def test_probe_truncation_and_prompts_of_a_recorded_model_need_no_tokenizer(checkpoint: Path) -> None:
    from harness.evaluate.zero_shot import category_prompt_embeddings
    from harness.probes.runner import _truncation_counter
    from harness.probes.scoring import encode_titles

    titles = ["The Power of Now", " ".join(["spirituality"] * 40), " ".join(["mindfulness"] * 50)]
    full = load(str(checkpoint))
    expected = _truncation_counter(full, 256)(titles)
    assert expected == 2
    encode_titles(full, titles)
    prompts = category_prompt_embeddings(full, ["Poetry", "Medical"])
    recorded = load(str(checkpoint))
    assert _truncation_counter(recorded, 256)(titles) == expected
    assert np.array_equal(category_prompt_embeddings(recorded, ["Poetry", "Medical"]), prompts)
    assert not recorded.built and not recorded.tokenizer_built


def test_a_module_first_used_in_inference_mode_holds_ordinary_weights(checkpoint: Path) -> None:
    first = load(str(checkpoint))
    recorded = load(str(checkpoint))
    with torch.inference_mode():  # where an encoder's loop first asks for the module
        vectors = recorded.encode_texts(["a title"])
    assert not any(p.is_inference() for p in recorded.module.parameters())
    assert recorded.fingerprint == first.fingerprint and torch.equal(vectors, first.encode_texts(["a title"]))
