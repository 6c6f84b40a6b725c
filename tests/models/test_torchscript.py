from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from harness.errors import CheckpointError
from harness.models import build_model, fingerprint_state_dict, get_tiny_config, load
from harness.models.torchscript import read_torchscript_state_dict


def _openai_like_module(seed: int) -> torch.nn.Module:
    config = get_tiny_config("vit-xs")
    config["quick_gelu"] = True
    config["text_cfg"]["heads"] = 1
    return build_model(config, seed)


@pytest.fixture(scope="module")
def traced_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """A TorchScript archive of a traced CLIP, the way OpenAI ships its .pt files."""
    module = _openai_like_module(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace_module(module, {"encode_image": (torch.zeros(1, 3, 64, 64),)}, check_trace=False)
    path = tmp_path_factory.mktemp("ts") / "ViT-tiny.pt"
    traced.save(str(path))
    return path, module


def test_reads_the_same_state_dict_as_torch_jit(traced_archive: tuple[Path, torch.nn.Module]) -> None:
    path, _ = traced_archive
    ours = read_torchscript_state_dict(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = torch.jit.load(str(path)).state_dict()  # our own file: safe to execute here
    assert set(ours) == set(reference)
    for name, tensor in reference.items():
        assert torch.equal(ours[name], tensor), name


def test_loads_through_the_file_spec(traced_archive: tuple[Path, torch.nn.Module]) -> None:
    path, module = traced_archive
    model = load(str(path))
    assert model.metadata["layout"] == "torchscript"
    assert model.fingerprint == fingerprint_state_dict(module.state_dict())


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_archive_with_a_foreign_global_is_refused_unrun(
    tmp_path: Path, traced_archive: tuple[Path, torch.nn.Module]
) -> None:
    source, _ = traced_archive
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(evil, "w") as out:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                buffer = io.BytesIO()
                pickle.dump(_Payload(marker), buffer, protocol=2)
                data = buffer.getvalue()
            out.writestr(info, data)
    with pytest.raises(CheckpointError) as info:
        load(str(evil))
    message = str(info.value)
    assert "refused" in message and "is not allowed" in message and "\n" not in message
    assert not marker.exists()


def test_truncated_archive_is_a_one_line_error(tmp_path: Path, traced_archive: tuple[Path, torch.nn.Module]) -> None:
    source, _ = traced_archive
    cut = tmp_path / "cut.pt"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(CheckpointError) as info:
        load(str(cut))
    assert "\n" not in str(info.value) and str(cut) in str(info.value)
