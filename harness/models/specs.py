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

Another package adds a scheme through the entry-point group `bookclip.model_schemes`: an entry point
named after the scheme names a `Scheme` object (`myhub = "my_package.specs:MYHUB"`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ModelError
from harness.registry import Registry

if TYPE_CHECKING:
    import torch
    from open_clip.model import CLIP, CustomTextCLIP

    from harness.models.checkpoint import Checkpoint
    from harness.models.clip_model import ClipModel

# torch and open_clip are imported inside the loaders: parsing a spec, and failing on a missing
# download, stay fast (a second, not the several seconds those imports take)

ENTRY_POINT_GROUP = "bookclip.model_schemes"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec."""

    text: str
    kind: str  # the scheme's name ("tiny", "fixtures", "openai", "open_clip", "null", ...) or "file"
    name: str = ""
    seed: int = 0
    tag: str = ""
    path: Path | None = None


@dataclass(frozen=True)
class Scheme:
    """A model-spec scheme: the specs written `<name>:<rest>`.

    `parse(text, rest)` turns the whole spec and what follows `<name>:` into a ModelSpec (a ModelError for
    a malformed one; nothing heavy is imported); `load(spec)` builds the ClipModel on the CPU (`load`
    moves it to the device). `forms` is how the spec is written, for messages and listings.
    """

    name: str
    parse: Callable[[str, str], ModelSpec] = field(repr=False)
    load: Callable[[ModelSpec], ClipModel] = field(repr=False)
    forms: str = ""
    description: str = ""


def _as_scheme(value: object) -> Scheme:
    if not isinstance(value, Scheme):
        raise ModelError(f"{value!r} is not a harness.models.specs.Scheme; point the entry point at one")
    return value


SCHEMES: Registry[Scheme] = Registry(
    "model spec scheme", check=_as_scheme, groups=(ENTRY_POINT_GROUP,), error=ModelError
)


def register_scheme(scheme: Scheme) -> Scheme:
    """Add a spec scheme (a name already taken by another scheme is an error)."""
    SCHEMES.register(scheme.name, _as_scheme(scheme))
    return scheme


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
    if sep and scheme in SCHEMES:
        if not rest:
            raise ModelError(f"model spec {text!r} names no model after '{scheme}:'; see `bookclip models list`")
        parsed = SCHEMES.get(scheme).parse(text, rest)
        # `load` finds the scheme by the spec's kind: the name the scheme is registered under
        return parsed if parsed.kind == "file" or parsed.kind in SCHEMES else replace(parsed, kind=scheme)
    if sep and len(scheme) > 1 and "/" not in scheme and "\\" not in scheme and not Path(text).exists():
        raise ModelError(
            f"unknown model spec scheme {scheme!r} in {text!r}; {SCHEMES.suggest(scheme)}use one of "
            f"{', '.join(s + ':' for s in SCHEMES.names())} or a file path"
        )
    return ModelSpec(text=text, kind="file", path=Path(text).expanduser())


def load(spec: str, device: str | torch.device = "cpu") -> ClipModel:
    """Resolve `spec` to a ClipModel on `device` (see the module docstring for the forms)."""
    parsed = parse_spec(spec)
    if parsed.kind == "file":
        assert parsed.path is not None
        if not parsed.path.is_file():
            raise ModelError(
                f"model file not found: {parsed.path}; give an existing checkpoint path or a spec "
                "like tiny:vit-xs, openai:ViT-B/32 (see `bookclip models --help`)"
            )
        model = _load_file(parsed.path, spec=parsed.text)
    else:
        model = SCHEMES.get(parsed.kind).load(parsed)
    return model.to(device)


# --- the built-in schemes ---------------------------------------------------------------------


def _parse_null(text: str, rest: str) -> ModelSpec:
    if rest != "constant":
        raise ModelError(f"unknown null model {text!r}; the null model is null:constant")
    return ModelSpec(text=text, kind="null", name=rest)


def _load_null(parsed: ModelSpec) -> ClipModel:
    from harness.models.null_model import null_model

    return null_model(parsed.text)


def _parse_tiny(text: str, rest: str) -> ModelSpec:
    match = re.fullmatch(r"([\w.-]+)(?:@(\d+))?", rest)
    if not match:
        raise ModelError(f"malformed tiny spec {text!r}; write tiny:<name> or tiny:<name>@<seed>")
    return ModelSpec(text=text, kind="tiny", name=match.group(1), seed=int(match.group(2) or 0))


def _parse_fixtures(text: str, rest: str) -> ModelSpec:
    return ModelSpec(text=text, kind="fixtures", name=rest, path=fixtures_dir() / f"{rest}.safetensors")


def _load_fixtures(parsed: ModelSpec) -> ClipModel:
    assert parsed.path is not None
    if not parsed.path.is_file():
        raise ModelError(
            f"{parsed.text}: {parsed.path} does not exist; build it with "
            "`bookclip fixtures build-baseline` (or set BOOKCLIP_FIXTURES_DIR)"
        )
    return _load_file(parsed.path, spec=parsed.text)


def _parse_openai(text: str, rest: str) -> ModelSpec:
    return ModelSpec(text=text, kind="openai", name=rest, tag="openai")


def _parse_open_clip(text: str, rest: str) -> ModelSpec:
    arch, slash, tag = rest.partition("/")
    if not slash or not arch or not tag:
        raise ModelError(
            f"malformed open_clip spec {text!r}; write open_clip:<arch>/<pretrained tag>, "
            "e.g. open_clip:ViT-B-32/laion2b_s34b_b79k"
        )
    return ModelSpec(text=text, kind="open_clip", name=arch, tag=tag)


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
    from harness.models.checkpoint import is_bookclip_checkpoint, load_safetensors, read_header
    from harness.models.clip_model import ClipModel, PreprocessConfig, image_size_of
    from harness.models.openai_layout import config_from_openai_state_dict
    from harness.models.tokenizer import tokenizer_for
    from harness.models.torch_files import ForeignWeights, read_foreign_weights

    if path.suffix == ".safetensors":
        header = read_header(path)
        if is_bookclip_checkpoint(header):
            return _load_bookclip_file(path, header, spec=spec)
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


def _load_bookclip_file(path: Path, header: dict[str, str], *, spec: str) -> ClipModel:
    """One of our checkpoints: in full the first time, then deferred from what that load recorded
    (harness.models.load_records) for as long as the file is unchanged."""
    from harness.errors import CheckpointError
    from harness.models import load_records
    from harness.models.build import check_config_against_shapes
    from harness.models.checkpoint import FORMAT_VERSION, load_checkpoint, parse_header, read_tensor_shapes
    from harness.models.clip_model import ClipModel, PreprocessConfig, image_size_of
    from harness.models.tokenizer import tokenizer_for

    config, metadata = parse_header(path, header)
    saved = header.get("fingerprint", "")
    recorded = load_records.recall(path, saved) if header["bookclip_format"] == FORMAT_VERSION else None
    if recorded is None:
        # everything the header says is checked before anything is built or read: the config's
        # tensors against the header's shapes, the preprocessing against the architecture
        check_config_against_shapes(config, read_tensor_shapes(path), source=str(path))
    try:
        size = image_size_of(config)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    preprocess = PreprocessConfig.from_dict(metadata.get("preprocess", {}), size, source=str(path))
    if recorded is not None:
        return ClipModel.deferred(
            lambda: _bookclip_module(path),
            config=config,
            spec=spec,
            make_tokenizer=lambda: tokenizer_for(config),
            tokenizer_description=recorded["tokenizer"],
            preprocess_config=preprocess,
            fingerprint=recorded["fingerprint"],
            metadata={**metadata, "layout": "bookclip"},
        )
    checkpoint = load_checkpoint(path)
    model = ClipModel(
        _module_of(checkpoint, path),
        config=checkpoint.config,
        spec=spec,
        tokenizer=tokenizer_for(checkpoint.config),
        preprocess_config=PreprocessConfig.from_dict(
            checkpoint.metadata.get("preprocess", {}), image_size_of(checkpoint.config), source=str(path)
        ),
        metadata={**checkpoint.metadata, "layout": "bookclip"},
    )
    load_records.remember(path, saved, fingerprint=model.fingerprint, tokenizer=model.identity_parts()["tokenizer"])
    return model


def _module_of(checkpoint: Checkpoint, path: Path) -> CLIP | CustomTextCLIP:
    from harness.models.build import build_model, load_weights

    module = build_model(checkpoint.config, 0)
    load_weights(module, checkpoint.state_dict, source=str(path))
    return module


def _bookclip_module(path: Path) -> CLIP | CustomTextCLIP:
    """The module of a checkpoint loaded deferred, built when it is first used."""
    from harness.models.checkpoint import load_checkpoint

    return _module_of(load_checkpoint(path), path)


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


for _scheme in (
    Scheme("tiny", _parse_tiny, _load_tiny, "tiny:<name>[@<seed>]", "a small registered config, randomly initialised"),
    Scheme("fixtures", _parse_fixtures, _load_fixtures, "fixtures:<name>", "a checkpoint of the embedded default"),
    Scheme("openai", _parse_openai, _load_pretrained, "openai:<name>", "OpenAI's weights via open_clip"),
    Scheme("open_clip", _parse_open_clip, _load_pretrained, "open_clip:<arch>/<tag>", "an open_clip model"),
    Scheme("null", _parse_null, _load_null, "null:constant", "one embedding for every cover and title"),
):
    register_scheme(_scheme)
