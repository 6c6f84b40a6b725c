"""Items 7 and 11 (model files): what a checkpoint's header says is checked before anything is built,
and any file that is not a model is a one-line error (exit 2), never a traceback.

Also the cases that already held: pickle payloads are refused without running, a safetensors header
that claims more bytes than the file holds is refused, NaN weights are a one-line error at evaluation.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
from pathlib import Path

import pytest
import torch

from harness.errors import CheckpointError, ModelError
from harness.models import load, save_checkpoint


@pytest.fixture(scope="module")
def tiny():
    return load("tiny:vit-xs@2")


def _rewrite_header(path: Path, **changes: str) -> Path:
    from safetensors.torch import load_file, save_file

    from harness.models.checkpoint import read_header

    header = {**read_header(path), **changes}
    save_file(load_file(path), str(path), metadata=header)
    return path


def _save(tmp_path: Path, model, name: str, *, config=None, metadata=None) -> Path:
    path = tmp_path / name
    save_checkpoint(path, model.state_dict(), config=config or model.config, metadata=metadata)
    return path


def _assert_cli_refuses(hostile, path: Path, *needles: str) -> None:
    result = hostile.run_cli("models", "info", str(path), timeout=180)
    hostile.assert_one_line_error(result, 2, str(path.name), *needles)


def test_models_info_exists(hostile) -> None:  # the probe command the CLI checks below use
    assert hostile.run_cli("models", "info", "tiny:vit-xs", timeout=180).returncode == 0


def test_preprocess_image_size_beyond_the_architecture_is_refused(tmp_path, tiny, hostile, fresh_cache) -> None:
    path = _save(tmp_path, tiny, "big.safetensors", metadata={"preprocess": {"image_size": 1024}})
    with pytest.raises(CheckpointError, match="image_size 1024 does not match the architecture's image_size 64"):
        load(str(path))
    _assert_cli_refuses(hostile, path, "image_size 1024")
    assert not (fresh_cache / "images").exists() or not any((fresh_cache / "images").glob("*.npy"))


@pytest.mark.parametrize(
    "preprocess, needle",
    [
        ({"image_size": "abc"}, "image_size 'abc'"),
        ({"image_size": 64, "mean": [0.5, 0.5]}, "mean"),
        ({"image_size": 64, "std": [0.0, 1.0, 1.0]}, "std"),
        ({"image_size": 64, "interpolation": "lanczos; rm -rf /"}, "interpolation"),
        ([64], "preprocess metadata is a list"),
    ],
)
def test_malformed_preprocess_metadata_is_one_line(tmp_path, tiny, preprocess, needle) -> None:
    path = _save(tmp_path, tiny, "p.safetensors", metadata={"preprocess": preprocess})
    with pytest.raises(CheckpointError, match="p.safetensors") as info:
        load(str(path))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_config_wider_than_the_tensors_is_refused_before_allocating(tmp_path, tiny, hostile) -> None:
    config = json.loads(json.dumps(tiny.config))
    config["vision_cfg"]["width"] = 65536  # ~51 GB if built
    path = _save(tmp_path, tiny, "wide.safetensors", config=config)
    with pytest.raises(CheckpointError, match="has shape .* but the architecture expects"):
        load(str(path))
    # under an 8 GB address-space limit the refusal is the same one line (nothing was allocated)
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (8_000_000_000, 8_000_000_000))  # noqa: E731
    result = hostile.run_cli("models", "info", str(path), timeout=180, preexec_fn=limit)
    hostile.assert_one_line_error(result, 2, "wide.safetensors", "expects")


def test_hugging_face_tower_in_a_checkpoint_config_is_one_line(tmp_path, tiny, hostile) -> None:
    config = json.loads(json.dumps(tiny.config))
    config["text_cfg"]["hf_model_name"] = "bert-base-uncased"
    path = _save(tmp_path, tiny, "hf.safetensors", config=config)
    _assert_cli_refuses(hostile, path, "hf_model_name")


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("metadata", "[1, 2, 3]", "'metadata' is a JSON list"),
        ("config", "[1]", "'config' is a JSON list"),
        ("config", '{"embed_dim": 64, "vision_cfg": [], "text_cfg": {}}', "'vision_cfg' is a JSON list"),
        ("metadata", "[" * 100000 + "]" * 100000, "not valid JSON"),
    ],
)
def test_header_json_of_the_wrong_shape_is_one_line(tmp_path, tiny, hostile, field, value, needle) -> None:
    path = _rewrite_header(_save(tmp_path, tiny, "h.safetensors"), **{field: value})
    with pytest.raises(CheckpointError, match="h.safetensors") as info:
        load(str(path))
    assert needle in str(info.value)


@pytest.mark.parametrize("content", ["random", "passwd", "text"])
@pytest.mark.parametrize("suffix", [".pt", ".bin", ".safetensors"])
def test_files_that_are_not_models_are_one_line_errors(tmp_path, hostile, content, suffix) -> None:
    data = {
        "random": os.urandom(4096),
        "text": b"hello\n" * 100,
        "passwd": (
            Path("/etc/passwd").read_bytes() if Path("/etc/passwd").is_file() else b"root:x:0:0::/root:/bin/sh\n"
        ),
    }[content]
    path = tmp_path / f"model{suffix}"
    path.write_bytes(data)
    with pytest.raises(ModelError, match="model") as info:
        load(str(path))
    assert "\n" not in str(info.value)


def test_etc_passwd_itself_is_one_line(hostile) -> None:
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd on this system")
    result = hostile.run_cli("models", "info", "/etc/passwd", timeout=180)
    hostile.assert_one_line_error(result, 2, "/etc/passwd")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_payload_is_refused_without_running(tmp_path, hostile) -> None:
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"visual.proj": _Payload()}))
    result = hostile.run_cli("models", "info", str(path), cwd=tmp_path, timeout=180)
    hostile.assert_one_line_error(result, 2, "evil.pt", "refused")
    assert not (tmp_path / "PWNED").exists()


def test_safetensors_header_bomb_is_refused(tmp_path, hostile) -> None:
    path = tmp_path / "bomb.safetensors"
    path.write_bytes((2**40).to_bytes(8, "little") + b"{}")  # claims a 1 TB header
    result = hostile.run_cli("models", "info", str(path), timeout=180)
    hostile.assert_one_line_error(result, 2, "bomb.safetensors")


def test_nan_weights_are_a_one_line_evaluation_error(tmp_path, tiny, catalogue_dir, hostile, fresh_cache) -> None:
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    state["visual.proj"] = torch.full_like(state["visual.proj"], float("nan"))
    path = tmp_path / "nan.safetensors"
    save_checkpoint(path, state, config=tiny.config)
    result = hostile.run_cli(
        "eval",
        "--model",
        str(path),
        "--data",
        str(catalogue_dir(12)),
        "--resamples",
        "100",
        "--no-zero-shot",
        env={"BOOKCLIP_CACHE_DIR": str(fresh_cache)},
        timeout=300,
    )
    hostile.assert_one_line_error(result, 2, "NaN")
