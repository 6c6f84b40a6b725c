from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.errors import CheckpointError
from harness.models import fingerprint_state_dict, load, load_checkpoint, save_checkpoint
from harness.models.checkpoint import read_header


def test_save_then_load_reproduces_every_tensor_and_the_fingerprint(tiny_checkpoint: Path) -> None:
    original = load("tiny:vit-xs@1")
    checkpoint = load_checkpoint(tiny_checkpoint)
    reference = original.state_dict()
    assert set(checkpoint.state_dict) == set(reference)
    for name, tensor in reference.items():
        assert checkpoint.state_dict[name].dtype == tensor.dtype
        assert torch.equal(checkpoint.state_dict[name], tensor), name
    assert checkpoint.fingerprint == original.fingerprint == fingerprint_state_dict(reference)
    reloaded = load(str(tiny_checkpoint))
    assert reloaded.fingerprint == original.fingerprint
    assert reloaded.config == original.config


def test_metadata_round_trips_with_provenance_filled_in(tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    meta = checkpoint.metadata
    assert meta["training"] == {"epochs": 1, "lr": 1e-4}
    assert meta["data_fingerprint"] == "d" * 64 and meta["parent_fingerprint"] is None
    assert meta["library_versions"]["torch"] == torch.__version__
    assert "open_clip" in meta["library_versions"] and "bookclip" in meta["library_versions"]
    assert meta["created_at"].endswith("+00:00")
    header = read_header(tiny_checkpoint)
    assert all(isinstance(v, str) for v in header.values())
    assert json.loads(header["config"]) == checkpoint.config


def test_fingerprint_ignores_metadata(tmp_path: Path) -> None:
    model = load("tiny:vit-xs")
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(a, model.state_dict(), config=model.config, metadata={"note": "one"})
    save_checkpoint(b, model.state_dict(), config=model.config, metadata={"note": "two", "created_at": "x"})
    assert a.read_bytes() != b.read_bytes()
    assert load_checkpoint(a).fingerprint == load_checkpoint(b).fingerprint == model.fingerprint


def test_failed_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    model = load("tiny:vit-xs")
    target = tmp_path / "model.safetensors"
    save_checkpoint(target, model.state_dict(), config=model.config, metadata={})
    before = target.read_bytes()
    real_save_file = safetensors.torch.save_file

    def crash_after_writing(tensors, filename, metadata=None):  # a crash after the bytes hit the disk
        real_save_file(tensors, filename, metadata=metadata)
        raise OSError("disk went away")

    monkeypatch.setattr(safetensors.torch, "save_file", crash_after_writing)
    other = load("tiny:vit-xs@5")
    with pytest.raises(OSError):
        save_checkpoint(target, other.state_dict(), config=other.config, metadata={})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_unserialisable_input_is_refused_before_writing(tmp_path: Path) -> None:
    model = load("tiny:vit-xs")
    target = tmp_path / "model.safetensors"
    with pytest.raises(CheckpointError, match="not a tensor"):
        save_checkpoint(target, {**model.state_dict(), "bad": "text"}, config=model.config)  # type: ignore[dict-item]
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(target, model.state_dict(), config={"bad": object()}, metadata={})
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_truncated_file_is_a_one_line_checkpoint_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    data = tiny_checkpoint.read_bytes()
    for cut in (len(data) // 2, 100, 5):
        broken = tmp_path / f"cut{cut}.safetensors"
        broken.write_bytes(data[:cut])
        for reader in (load_checkpoint, lambda p: load(str(p))):
            with pytest.raises(CheckpointError) as info:
                reader(broken)
            message = str(info.value)
            assert "\n" not in message and str(broken) in message and "truncated" in message


def test_flipped_weight_bytes_are_caught_by_the_recorded_fingerprint(tiny_checkpoint: Path, tmp_path: Path) -> None:
    data = bytearray(tiny_checkpoint.read_bytes())
    data[-10] ^= 0xFF  # inside the last tensor's bytes, header untouched
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fingerprint recorded at save time"):
        load_checkpoint(damaged)


def test_wrong_shape_checkpoint_names_the_tensor(tmp_path: Path) -> None:
    model = load("tiny:vit-xs")
    sd = dict(model.state_dict())
    sd["visual.proj"] = torch.zeros(128, 32)
    path = tmp_path / "wrong.safetensors"
    save_checkpoint(path, sd, config=model.config, metadata={})
    with pytest.raises(CheckpointError) as info:
        load(str(path))
    assert "'visual.proj'" in str(info.value) and "\n" not in str(info.value)


def test_plain_safetensors_without_our_header_is_refused_by_load_checkpoint(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="without bookclip metadata"):
        load_checkpoint(path)


def test_loading_a_tiny_checkpoint_twice_gives_the_same_model(tiny_checkpoint: Path) -> None:
    first, second = load(str(tiny_checkpoint)), load(str(tiny_checkpoint))
    assert first.embed_dim == second.embed_dim == 64
    assert first.fingerprint == second.fingerprint
