"""`bookclip models`: list the models bookclip knows and inspect one spec."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SPEC_HELP = """\
model specs (wherever bookclip takes a model):
  tiny:<name>[@<seed>]     a registered small CLIP config (64 px covers, context length 32),
                           randomly initialised from <seed> (default 0), e.g. tiny:vit-xs, tiny:vit-s@3
  fixtures:tiny-baseline   the embedded baseline checkpoint, <repo>/fixtures/tiny-baseline.safetensors
                           (BOOKCLIP_FIXTURES_DIR overrides the folder; `tiny-baseline` for short);
                           build it with `bookclip fixtures build-baseline`
  openai:<name>            OpenAI's CLIP weights through open_clip: openai:ViT-B/32, openai:ViT-B/16,
                           openai:ViT-L/14, openai:ViT-L/14@336px, openai:RN50, openai:RN101, ...
                           looked up in ~/.cache/clip/<file>.pt and the Hugging Face hub cache;
                           downloaded when online; offline, the error names the file and where to put it
                           (BOOKCLIP_OFFLINE=1 or HF_HUB_OFFLINE=1 never downloads)
  open_clip:<arch>/<tag>   any open_clip architecture and pretrained tag, same lookup,
                           e.g. open_clip:ViT-B-32/laion2b_s34b_b79k; <tag> may be a weights file
  <path>.safetensors       our checkpoint (architecture and provenance in its header), or a plain
                           safetensors CLIP state dict in OpenAI/open_clip layout
  <path>.pt | .pth | .bin  an OpenAI checkpoint (TorchScript archive or state dict), an open_clip
                           checkpoint ({'state_dict': ...}, 'module.' prefixes), or the original
                           write-up's torch.save({'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss'});
                           the architecture is read from tensor shapes. Pickles are read with
                           torch.load(weights_only=True): a file needing arbitrary code is refused
                           unrun; TorchScript archives are read without executing their code
"""


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser(
        "models",
        help="list known models and inspect a model spec",
        description="List the models bookclip knows and inspect one.",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models_sub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    listing = models_sub.add_parser(
        "list",
        help="tiny configs, the embedded baseline, OpenAI names and where weights are looked for",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    listing.set_defaults(func=run_list)
    info = models_sub.add_parser(
        "info",
        help="architecture, parameter count, fingerprint, metadata and weight location of SPEC",
        description="Load SPEC (downloading published weights when online) and describe it.",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("spec", metavar="SPEC", help="a model spec (see below)")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(func=run_info)
    models.set_defaults(func=lambda args: _print_help(models))


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    vision, text = config.get("vision_cfg", {}), config.get("text_cfg", {})
    return {
        "embed_dim": config.get("embed_dim"),
        "image": {
            k: vision[k] for k in ("image_size", "patch_size", "width", "layers", "timm_model_name") if k in vision
        },
        "text": {
            k: text[k]
            for k in ("context_length", "vocab_size", "width", "heads", "layers", "hf_model_name")
            if k in text
        },
        "quick_gelu": bool(config.get("quick_gelu", False)),
    }


def _describe_architecture(arch: dict[str, Any]) -> str:
    image = ", ".join(f"{k}={v}" for k, v in arch["image"].items())
    text = ", ".join(f"{k}={v}" for k, v in arch["text"].items())
    return f"embed_dim={arch['embed_dim']}; image: {image}; text: {text}; quick_gelu={arch['quick_gelu']}"


def collect_listing() -> dict[str, Any]:
    """Everything `bookclip models list` shows, as data."""
    from harness.models import build_model, fixtures_dir, get_tiny_config, list_tiny
    from harness.models.pretrained import clip_cache_dir, find_local, openai_arch, openai_names, pretrained_source
    from harness.models.tiny import DEFAULT_TINY

    tiny = []
    for name in list_tiny():
        config = get_tiny_config(name)
        params = sum(p.numel() for p in build_model(config, 0).parameters())
        tiny.append(
            {
                "spec": f"tiny:{name}",
                "default": name == DEFAULT_TINY,
                "parameters": params,
                "architecture": _architecture(config),
            }
        )
    fixtures = fixtures_dir()
    baselines = (
        [{"spec": f"fixtures:{path.stem}", "path": str(path)} for path in sorted(fixtures.glob("*.safetensors"))]
        if fixtures.is_dir()
        else []
    )
    openai = []
    for name in openai_names():
        source = pretrained_source(openai_arch(name), "openai")
        local = find_local(source)
        openai.append(
            {
                "spec": f"openai:{name}",
                "arch": source.arch,
                "local": str(local) if local else None,
                "looked_in": source.local_candidates(),
            }
        )
    try:
        from huggingface_hub import constants

        hub_cache = str(constants.HF_HUB_CACHE)
    except ImportError:
        hub_cache = None
    return {
        "tiny": tiny,
        "fixtures_dir": str(fixtures),
        "fixtures": baselines,
        "openai": openai,
        "weights_looked_for_in": {
            "clip_cache": str(clip_cache_dir()),
            "hf_hub_cache": hub_cache,
            "fixtures": str(fixtures),
        },
    }


def run_list(args: argparse.Namespace) -> int:
    listing = collect_listing()
    if args.json:
        print(json.dumps(listing, indent=2, sort_keys=True))
        return 0
    print("tiny configs (random init; tiny:<name>@<seed> for another seed):")
    for entry in listing["tiny"]:
        default = "  [default]" if entry["default"] else ""
        print(
            f"  {entry['spec']:<24} {entry['parameters']:>10,} params  "
            f"{_describe_architecture(entry['architecture'])}{default}"
        )
    print(f"embedded baselines in {listing['fixtures_dir']}:")
    for entry in listing["fixtures"] or [{"spec": "(none; run `bookclip fixtures build-baseline`)", "path": ""}]:
        print(f"  {entry['spec']:<24} {entry['path']}")
    print("OpenAI weights (openai:<name>):")
    for entry in listing["openai"]:
        print(f"  {entry['spec']:<24} {entry['local'] or 'not cached (downloaded on first use when online)'}")
    where = listing["weights_looked_for_in"]
    print("weights are looked for in:")
    print(f"  {where['clip_cache']}/<file>.pt   (OpenAI clip package / open_clip URL downloads)")
    print(f"  {where['hf_hub_cache']}   (Hugging Face hub cache, open_clip hub downloads)")
    print(f"  {where['fixtures']}   (embedded baselines; BOOKCLIP_FIXTURES_DIR overrides)")
    return 0


def collect_info(spec: str) -> dict[str, Any]:
    """Everything `bookclip models info SPEC` shows, as data (loads the model)."""
    from harness.models import load, parse_spec

    parsed = parse_spec(spec)
    model = load(spec)
    if parsed.kind == "tiny":
        weights = f"none: random init from seed {parsed.seed}"
    elif parsed.path is not None:
        weights = f"{parsed.path} ({Path(parsed.path).stat().st_size:,} bytes)"
    else:
        weights = str(model.metadata.get("weights", "?"))
    return {
        "spec": model.spec,
        "kind": parsed.kind,
        "architecture": _architecture(model.config),
        "parameters": model.parameter_count(),
        "fingerprint": model.fingerprint,
        "image_size": model.image_size,
        "context_length": model.context_length,
        "mean": list(model.mean),
        "std": list(model.std),
        "weights": weights,
        "metadata": model.metadata,
        "config": model.config,
    }


def run_info(args: argparse.Namespace) -> int:
    info = collect_info(args.spec)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        return 0
    print(f"spec:          {info['spec']} ({info['kind']})")
    print(f"architecture:  {_describe_architecture(info['architecture'])}")
    print(f"parameters:    {info['parameters']:,}")
    print(f"fingerprint:   {info['fingerprint']}")
    print(f"preprocess:    {info['image_size']} px, mean={info['mean']}, std={info['std']}")
    print(f"weights:       {info['weights']}")
    if info["metadata"]:
        print("metadata:")
        for key, value in sorted(info["metadata"].items()):
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
            print(f"  {key}: {text}")
    return 0
