"""Published weights through open_clip's registry: where they live locally, and fetching them when online.

Lookup order: `~/.cache/clip/<file>` (where OpenAI's `clip` package and open_clip put URL downloads),
then the Hugging Face hub cache (where open_clip puts hub downloads). Only when neither has the file
and the network answers within a few seconds is anything downloaded; offline, the error names the file
and where to put it. BOOKCLIP_OFFLINE=1 or HF_HUB_OFFLINE=1 skips the network entirely.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.errors import ModelError

PROBE_TIMEOUT_S = 3.0
_HF_FILENAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def clip_cache_dir() -> Path:
    """Where OpenAI's `clip` package and open_clip keep URL downloads."""
    return Path(os.path.expanduser("~/.cache/clip"))


_OPENAI_URL = "https://openaipublic.azureedge.net/clip/models"
# OpenAI's releases as open_clip's registry lists them (arch -> url, hub repo); kept here so that
# resolving (and failing offline) does not pay for importing open_clip. A test checks it against open_clip.
OPENAI_RELEASES: dict[str, tuple[str, str]] = {
    "RN50": (
        f"{_OPENAI_URL}/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
        "timm/resnet50_clip.openai",
    ),
    "RN101": (
        f"{_OPENAI_URL}/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
        "timm/resnet101_clip.openai",
    ),
    "RN50x4": (
        f"{_OPENAI_URL}/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
        "timm/resnet50x4_clip.openai",
    ),
    "RN50x16": (
        f"{_OPENAI_URL}/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
        "timm/resnet50x16_clip.openai",
    ),
    "RN50x64": (
        f"{_OPENAI_URL}/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
        "timm/resnet50x64_clip.openai",
    ),
    "ViT-B-32": (
        f"{_OPENAI_URL}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
        "timm/vit_base_patch32_clip_224.openai",
    ),
    "ViT-B-16": (
        f"{_OPENAI_URL}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
        "timm/vit_base_patch16_clip_224.openai",
    ),
    "ViT-L-14": (
        f"{_OPENAI_URL}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
        "timm/vit_large_patch14_clip_224.openai",
    ),
    "ViT-L-14-336": (
        f"{_OPENAI_URL}/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
        "timm/vit_large_patch14_clip_336.openai",
    ),
}
_OPENAI_PREPROCESS = {
    "mean": (0.48145466, 0.4578275, 0.40821073),
    "std": (0.26862954, 0.26130258, 0.27577711),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def openai_names() -> list[str]:
    """OpenAI's model names as OpenAI writes them (ViT-B/32, ViT-L/14@336px, RN50)."""
    return [_openai_display_name(arch) for arch in OPENAI_RELEASES]


def _openai_display_name(arch: str) -> str:
    parts = arch.split("-")  # ViT-B-32, ViT-L-14-336
    if parts[0] == "ViT" and len(parts) >= 3:
        return f"ViT-{parts[1]}/{parts[2]}" + (f"@{parts[3]}px" if len(parts) > 3 else "")
    return arch


def openai_arch(name: str) -> str:
    """open_clip's architecture name for an OpenAI model name: ViT-B/32 -> ViT-B-32, ViT-L/14@336px -> ViT-L-14-336."""
    arch = name.strip().replace("@336px", "-336").replace("/", "-")
    if arch not in OPENAI_RELEASES:
        raise ModelError(f"unknown OpenAI model {name!r}; available: {', '.join(openai_names())}")
    return arch


@dataclass(frozen=True)
class PretrainedSource:
    """Where the weights of one open_clip architecture + pretrained tag come from."""

    arch: str
    tag: str
    url: str
    hf_repo: str
    hf_filenames: tuple[str, ...]
    preprocess: dict[str, Any]
    quick_gelu: bool

    @property
    def url_filename(self) -> str:
        return os.path.basename(urlparse(self.url).path) if self.url else ""

    def local_candidates(self) -> list[str]:
        """Human-readable places searched, in order."""
        places = []
        if self.url:
            places.append(str(clip_cache_dir() / self.url_filename))
        if self.hf_repo:
            places.append(f"Hugging Face cache: {self.hf_repo}/{{{','.join(self.hf_filenames)}}}")
        return places


def pretrained_source(arch: str, tag: str) -> PretrainedSource:
    """Registry entry for `arch` + `tag`, or ModelError listing what exists."""
    if tag == "openai" and arch in OPENAI_RELEASES:
        url, repo = OPENAI_RELEASES[arch]
        return PretrainedSource(
            arch=arch,
            tag=tag,
            url=url,
            hf_repo=repo,
            hf_filenames=_HF_FILENAMES,
            preprocess=dict(_OPENAI_PREPROCESS),
            quick_gelu=True,
        )
    import open_clip

    if arch not in open_clip.list_models():
        raise ModelError(
            f"unknown open_clip architecture {arch!r}; see open_clip.list_models() (e.g. ViT-B-32, ViT-B-16, RN50)"
        )
    cfg = open_clip.pretrained.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.pretrained.list_pretrained_tags_by_model(arch)
        raise ModelError(f"unknown pretrained tag {tag!r} for {arch}; available: {', '.join(tags) or 'none'}")
    hub = cfg.get("hf_hub", "")
    # open_clip writes 'org/repo/' for the default file, 'org/repo/file.bin' for a named one
    repo, filename = (hub.rstrip("/"), "") if hub.endswith("/") else os.path.split(hub)
    filenames = (filename, filename.rsplit(".", 1)[0] + ".safetensors") if filename else _HF_FILENAMES
    preprocess = {key: cfg[key] for key in ("mean", "std", "interpolation", "resize_mode") if key in cfg}
    return PretrainedSource(
        arch=arch,
        tag=tag,
        url=cfg.get("url", ""),
        hf_repo=repo,
        hf_filenames=tuple(dict.fromkeys(f for f in filenames if f)),
        preprocess=preprocess,
        quick_gelu=bool(cfg.get("quick_gelu", False)),
    )


def find_local(source: PretrainedSource) -> Path | None:
    """A local copy of the weights, or None. Never touches the network."""
    if source.url:
        candidate = clip_cache_dir() / source.url_filename
        if candidate.is_file():
            return candidate
    if source.hf_repo:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for filename in source.hf_filenames:
            found = try_to_load_from_cache(source.hf_repo, filename)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
    return None


def offline_forced() -> bool:
    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes", "on") for var in ("BOOKCLIP_OFFLINE", "HF_HUB_OFFLINE")
    )


def host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to `url`'s host opens within `timeout` seconds (DNS included)."""
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    # a thread bounds the whole probe: name resolution has no timeout of its own
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answer and answer[0])


def _hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def fetch_weights(source: PretrainedSource, *, spec: str) -> Path:
    """A local path to the weights: found in a cache, else downloaded; offline gives a one-line ModelError."""
    local = find_local(source)
    if local is not None:
        return local
    where = (
        f"put {source.url_filename} ({source.url}) at {clip_cache_dir() / source.url_filename}"
        if source.url
        else f"download {source.hf_repo} with `huggingface-cli download {source.hf_repo}` into the hub cache"
    )
    if offline_forced():
        raise ModelError(
            f"{spec}: weights not found locally and downloads are off (BOOKCLIP_OFFLINE/HF_HUB_OFFLINE); "
            f"{where}, or pass a checkpoint file as the spec"
        )
    errors: list[str] = []
    if source.hf_repo and host_reachable(_hf_endpoint()):
        from open_clip.pretrained import download_pretrained_from_hf

        for filename in source.hf_filenames:
            try:
                return Path(download_pretrained_from_hf(source.hf_repo, filename=filename))
            except Exception as exc:  # hub errors come in many types; all mean "not from here"
                errors.append(f"{source.hf_repo}/{filename}: {type(exc).__name__}")
    if source.url and host_reachable(source.url):
        from open_clip.pretrained import download_pretrained_from_url

        try:
            return Path(download_pretrained_from_url(source.url, cache_dir=str(clip_cache_dir())))
        except Exception as exc:
            errors.append(f"{source.url}: {type(exc).__name__}")
    reason = f"download failed ({'; '.join(errors)[:200]})" if errors else "the network is unreachable"
    raise ModelError(f"{spec}: weights not found locally and {reason}; {where}, or pass a checkpoint file as the spec")
