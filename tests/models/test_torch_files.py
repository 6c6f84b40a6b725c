from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from harness.errors import CheckpointError
from harness.models import build_model, fingerprint_state_dict, get_tiny_config, load
from harness.models.torch_files import extract_state_dict, read_torch_file


class _Payload:
    """Unpickling this would create a file: proof that code in a checkpoint ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class _ShellPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", [_Payload, _ShellPayload])
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_and_its_payload_never_runs(tmp_path: Path, payload: type, writer: str) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    obj = {"state_dict": {"visual.proj": torch.zeros(2, 2)}, "extra": payload(marker)}
    if writer == "torch.save":
        torch.save(obj, evil)
    else:
        with open(evil, "wb") as handle:
            pickle.dump(obj, handle, protocol=2)
    assert not marker.exists()
    with pytest.raises(CheckpointError) as info:
        load(str(evil))
    message = str(info.value)
    assert "\n" not in message and "refused" in message and str(evil) in message
    assert not marker.exists()


def test_write_up_format_loads_with_the_models_fingerprint(tmp_path: Path) -> None:
    # the original write-up's torch.save({...}) around an OpenAI-layout (= open_clip CLIP) state dict
    config = get_tiny_config("vit-xs")
    config["quick_gelu"] = True
    config["text_cfg"]["heads"] = 1  # OpenAI layout implies width // 64 heads
    module = build_model(config, 3)
    path = tmp_path / "finetuned.pt"
    torch.save(
        {
            "epoch": 4,
            "model_state_dict": module.state_dict(),
            "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 1e-5}]},
            "loss": 0.25,
        },
        path,
    )
    model = load(str(path))
    assert model.fingerprint == fingerprint_state_dict(module.state_dict())
    assert model.metadata["layout"] == "write-up"
    assert model.config["embed_dim"] == 64 and model.config["text_cfg"]["context_length"] == 32
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.encode_images(images), module.encode_image(images), atol=1e-6)


def test_open_clip_training_checkpoint_with_ddp_prefixes(tmp_path: Path) -> None:
    module = build_model(get_tiny_config("vit-xs"), 4)
    path = tmp_path / "epoch_3.pt"
    torch.save(
        {
            "epoch": 3,
            "name": "run",
            "state_dict": {f"module.{k}": v for k, v in module.state_dict().items()},
            "optimizer": {},
        },
        path,
    )
    model = load(str(path))
    assert model.metadata["layout"] == "open_clip-training"
    assert model.fingerprint == fingerprint_state_dict(module.state_dict())


def test_extract_rejects_non_tensor_entries() -> None:
    with pytest.raises(CheckpointError, match="'lr' is a float"):
        extract_state_dict({"w": torch.zeros(1), "lr": 0.1}, source="x.pt")
    with pytest.raises(CheckpointError, match="not a state dict"):
        extract_state_dict([torch.zeros(1)], source="x.pt")


def test_not_a_clip_state_dict_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match="'text_projection'"):
        load(str(path))


def test_damaged_pt_is_a_one_line_error(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(100)}, good)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good.read_bytes()[:60])
    with pytest.raises(CheckpointError) as info:
        read_torch_file(bad)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)
