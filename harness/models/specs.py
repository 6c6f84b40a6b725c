"""Model specs: the strings a user writes to name a model, and `load(spec)` that turns one into a ClipModel.

tiny:<name>[@<seed>]        a registered small config, randomly initialised from <seed> (default 0)
null:constant               a constant predictor: one embedding for every cover and every title
                            (what no gate may let pass)
fixtures:tiny-baseline      the embedded baseline, <repo>/fixtures/tiny-baseline.safetensors
                            (BOOKCLIP_FIXTURES_DIR overrides the folder); `tiny-baseline` for short
openai:<name>               OpenAI's weights via open_clip, e.g. openai:ViT-B/32, openai:RN50
open_clip:<arch>/<tag>      any open_clip architecture and pretrained tag (or a weights file as <tag>)
<path>                      a .safetensors checkpoint of ours (or a plain safetensors state dict),
                            an OpenAI .pt (TorchScript archive or state dict), an open_clip .pt
                            ({'state_dict': ...}, 'module.' prefixes), or the original write-up's
                            torch.save({'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss'})
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ModelError

if TYPE_CHECKING:
    import torch

    from harness.models.clip_model import ClipModel

# torch and open_clip are imported inside the loaders: parsing a spec, and failing on a missing
# download, stay fast (a second, not the several seconds those imports take)

_SCHEMES = ("tiny", "fixtures", "openai", "open_clip", "null")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec."""

    text: str
    kind: str  # "tiny", "fixtures", "openai", "open_clip", "null", "file"
    name: str = ""
    seed: int = 0
    tag: str = ""
    path: Path | None = None


def fixtures_dir() -> Path:
    """The embedded-default folder: $BOOKCLIP_FIXTURES_DIR, else fixtures/ beside the `harness` package."""
    override = os.environ.get("BOOKCLIP_FIXTURES_DIR")
    if override:
        return Path(override)
    import harness

    return Path(harness.__file__).resolve().parent.parent / "fixtures"


def parse_spec(spec: str) -> ModelSpec:
    """Parse a spec string; ModelError for malformed ones (nothing is loaded)."""
    text = str(spec).strip()
    if not text:
        raise ModelError("empty model spec; see `bookclip models --help` for the forms a spec takes")
    if text == "tiny-baseline":
        text = "fixtures:tiny-baseline"
    scheme, sep, rest = text.partition(":")
    if sep and scheme in _SCHEMES:
        if not rest:
            raise ModelError(f"model spec {text!r} names no model after '{scheme}:'; see `bookclip models list`")
        if scheme == "null":
            if rest != "constant":
                raise ModelError(f"unknown null model {text!r}; the null model is null:constant")
            return ModelSpec(text=text, kind="null", name=rest)
        if scheme == "tiny":
            match = re.fullmatch(r"([\w.-]+)(?:@(\d+))?", rest)
            if not match:
                raise ModelError(f"malformed tiny spec {text!r}; write tiny:<name> or tiny:<name>@<seed>")
            return ModelSpec(text=text, kind="tiny", name=match.group(1), seed=int(match.group(2) or 0))
        if scheme == "fixtures":
            return ModelSpec(text=text, kind="fixtures", name=rest, path=fixtures_dir() / f"{rest}.safetensors")
        if scheme == "openai":
            return ModelSpec(text=text, kind="openai", name=rest, tag="openai")
        arch, slash, tag = rest.partition("/")
        if not slash or not arch or not tag:
            raise ModelError(
                f"malformed open_clip spec {text!r}; write open_clip:<arch>/<pretrained tag>, "
                "e.g. open_clip:ViT-B-32/laion2b_s34b_b79k"
            )
        return ModelSpec(text=text, kind="open_clip", name=arch, tag=tag)
    if sep and len(scheme) > 1 and "/" not in scheme and "\\" not in scheme and not Path(text).exists():
        raise ModelError(
            f"unknown model spec scheme {scheme!r} in {text!r}; use one of "
            f"{', '.join(s + ':' for s in _SCHEMES)} or a file path"
        )
    return ModelSpec(text=text, kind="file", path=Path(text).expanduser())


def load(spec: str, device: str | torch.device = "cpu") -> ClipModel:
    """Resolve `spec` to a ClipModel on `device` (see the module docstring for the forms)."""
    parsed = parse_spec(spec)
    if parsed.kind == "tiny":
        model = _load_tiny(parsed)
    elif parsed.kind == "null":
        from harness.models.null_model import null_model

        model = null_model(parsed.text)
    elif parsed.kind == "fixtures":
        assert parsed.path is not None
        if not parsed.path.is_file():
            raise ModelError(
                f"{parsed.text}: {parsed.path} does not exist; build it with "
                "`bookclip fixtures build-baseline` (or set BOOKCLIP_FIXTURES_DIR)"
            )
        model = _load_file(parsed.path, spec=parsed.text)
    elif parsed.kind in ("openai", "open_clip"):
        model = _load_pretrained(parsed)
    else:
        assert parsed.path is not None
        if not parsed.path.is_file():
            raise ModelError(
                f"model file not found: {parsed.path}; give an existing checkpoint path or a spec "
                "like tiny:vit-xs, openai:ViT-B/32 (see `bookclip models --help`)"
            )
        model = _load_file(parsed.path, spec=parsed.text)
    return model.to(device)


def _load_tiny(parsed: ModelSpec) -> ClipModel:
    from harness.models.build import build_model
    from harness.models.clip_model import ClipModel, PreprocessConfig, image_size_of
    from harness.models.tiny import get_tiny_config
    from harness.models.tokenizer import tokenizer_for

    config = get_tiny_config(parsed.name)
    module = build_model(config, parsed.seed)
    return ClipModel(
        module,
        config=config,
        spec=parsed.text,
        tokenizer=tokenizer_for(config),
        preprocess_config=PreprocessConfig(image_size=image_size_of(config)),
        metadata={"source": "random-init", "tiny": parsed.name, "seed": parsed.seed},
    )


def _load_file(path: Path, *, spec: str) -> ClipModel:
    from harness.models.build import build_model, load_weights
    from harness.models.checkpoint import is_bookclip_checkpoint, load_checkpoint, load_safetensors, read_header
    from harness.models.clip_model import ClipModel, PreprocessConfig, image_size_of
    from harness.models.openai_layout import config_from_openai_state_dict
    from harness.models.tokenizer import tokenizer_for
    from harness.models.torch_files import ForeignWeights, read_foreign_weights

    if path.suffix == ".safetensors":
        header = read_header(path)
        if is_bookclip_checkpoint(header):
            # everything the header says is checked before anything is built or read: the config's
            # tensors against the header's shapes, the preprocessing against the architecture
            from harness.errors import CheckpointError
            from harness.models.build import check_config_against_shapes
            from harness.models.checkpoint import parse_header, read_tensor_shapes

            config, metadata = parse_header(path, header)
            check_config_against_shapes(config, read_tensor_shapes(path), source=str(path))
            try:
                size = image_size_of(config)
            except CheckpointError as exc:
                raise CheckpointError(f"{path}: {exc}") from None
            PreprocessConfig.from_dict(metadata.get("preprocess", {}), size, source=str(path))
            checkpoint = load_checkpoint(path)
            module = build_model(checkpoint.config, 0)
            load_weights(module, checkpoint.state_dict, source=str(path))
            preprocess = PreprocessConfig.from_dict(
                checkpoint.metadata.get("preprocess", {}), image_size_of(checkpoint.config), source=str(path)
            )
            return ClipModel(
                module,
                config=checkpoint.config,
                spec=spec,
                tokenizer=tokenizer_for(checkpoint.config),
                preprocess_config=preprocess,
                metadata={**checkpoint.metadata, "layout": "bookclip"},
            )
        weights = ForeignWeights(state_dict=load_safetensors(path), layout="safetensors")
    else:
        weights = read_foreign_weights(path)
    config = config_from_openai_state_dict(weights.state_dict, source=str(path))
    module = build_model(config, 0)
    load_weights(module, weights.state_dict, source=str(path))
    return ClipModel(
        module,
        config=config,
        spec=spec,
        tokenizer=tokenizer_for(config),
        preprocess_config=PreprocessConfig(image_size=image_size_of(config)),
        metadata={"layout": weights.layout},
    )


def _load_pretrained(parsed: ModelSpec) -> ClipModel:
    from harness.models.pretrained import fetch_weights, openai_arch, pretrained_source

    arch = openai_arch(parsed.name) if parsed.kind == "openai" else parsed.name
    tag_path = Path(parsed.tag).expanduser()
    if parsed.kind == "open_clip" and tag_path.suffix and tag_path.is_file():
        preprocess_cfg: dict[str, Any] = {}
        quick_gelu = False
        weights_path = tag_path
    else:
        # resolved before open_clip is imported, so a missing file is reported fast
        source = pretrained_source(arch, parsed.tag)
        preprocess_cfg, quick_gelu = source.preprocess, source.quick_gelu
        weights_path = fetch_weights(source, spec=parsed.text)
    import open_clip

    from harness.models.build import build_model, load_weights
    from harness.models.checkpoint import load_safetensors
    from harness.models.clip_model import ClipModel, PreprocessConfig, image_size_of
    from harness.models.tokenizer import tokenizer_for
    from harness.models.torch_files import extract_state_dict, read_foreign_weights

    config = open_clip.get_model_config(arch)
    if config is None:
        raise ModelError(f"unknown open_clip architecture {arch!r}; see open_clip.list_models()")
    if quick_gelu:
        config["quick_gelu"] = True
    module = build_model(config, 0)
    if weights_path.suffix == ".safetensors":
        state_dict = load_safetensors(weights_path)
    else:
        state_dict = read_foreign_weights(weights_path).state_dict
    state_dict = extract_state_dict(state_dict, source=str(weights_path)).state_dict
    if hasattr(module, "text") and "positional_embedding" in state_dict:
        from open_clip.model import convert_to_custom_text_state_dict

        state_dict = convert_to_custom_text_state_dict(state_dict)
    load_weights(module, state_dict, source=str(weights_path))
    preprocess = PreprocessConfig.from_dict(
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in preprocess_cfg.items()}, image_size_of(config)
    )
    return ClipModel(
        module,
        config=config,
        spec=parsed.text,
        tokenizer=tokenizer_for(config, arch),
        preprocess_config=preprocess,
        metadata={"layout": "open_clip", "arch": arch, "tag": parsed.tag, "weights": str(weights_path)},
    )
