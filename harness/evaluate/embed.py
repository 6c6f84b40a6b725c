"""Batched cover and caption embeddings, L2-normalised float32, cached on disk.

Covers come from the decoded-image cache (harness.data.decoded_images: decoded once, shared with
fine-tuning) and are normalised with the model's mean/std in torch, which is what the model's own
preprocess does after its resize and crop. Captions are rendered from a template and encoded in
batches. Both run under torch.inference_mode.

Cache entries live under cache_dir()/embeddings and are keyed by everything that changes the
numbers: the model's identity (weights, architecture config, preprocessing, tokenizer), the
catalogue fingerprint, the caption template (texts) or the preprocessing (covers). Each file carries a
checksum of its contents and key; a file that fails it (truncated, corrupt, or copied under another key)
is rebuilt.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.errors import EvaluationError
from harness.evaluate.embedding_store import StoredMatrix
from harness.evaluate.templates import DEFAULT_TEMPLATE, render_captions, resolve_template
from harness.io import atomic_path, cache_dir, sha256_hex
from harness.progress import progress

CACHE_VERSION = "embeddings-v2"  # v2: keyed by model identity, not the weights alone


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Row i of `images` and `texts` embeds the cover and caption of catalogue row i."""

    images: np.ndarray | StoredMatrix  # (N, d) float32, unit rows (kept in a store by the Spark engine)
    texts: np.ndarray | StoredMatrix  # (N, d) float32, unit rows
    book_ids: np.ndarray
    group_ids: np.ndarray
    template: str = DEFAULT_TEMPLATE
    truncated_texts: int = 0  # captions cut at the model's context length

    def __len__(self) -> int:
        return len(self.book_ids)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Embeddings:
        idx = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            images=self.images[idx],
            texts=self.texts[idx],
            book_ids=self.book_ids[idx],
            group_ids=self.group_ids[idx],
        )

    def select(self, book_ids: Sequence[str]) -> Embeddings:
        """The rows of these book ids, in the order given (all must be present)."""
        position = {b: i for i, b in enumerate(self.book_ids.tolist())}
        missing = [b for b in book_ids if b not in position]
        if missing:
            raise EvaluationError(
                f"{len(missing)} book(s) (first {missing[0]!r}) are not in the embedded "
                "catalogue; embed the catalogue the view was split from"
            )
        return self.subset([position[b] for b in book_ids])


@dataclass(frozen=True)
class CacheStats:
    """What one embed() call did: which parts came from the cache, which were (re)built and why."""

    images: str  # "hit", "built", "rebuilt: <reason>", "off"
    texts: str


def embed(
    model: Any,
    catalogue: Any,
    *,
    template: str = DEFAULT_TEMPLATE,
    batch_size: int = 256,
    cache: bool = True,
) -> Embeddings:
    """Embeddings of every cover and caption of `catalogue` under `model` (see the module docstring)."""
    return embed_with_stats(model, catalogue, template=template, batch_size=batch_size, cache=cache)[0]


def embed_with_stats(
    model: Any,
    catalogue: Any,
    *,
    template: str = DEFAULT_TEMPLATE,
    batch_size: int = 256,
    cache: bool = True,
) -> tuple[Embeddings, CacheStats]:
    """embed(), also saying whether each half was served from the cache."""
    template_text = resolve_template(template)  # a bad template fails before any work
    if len(catalogue) == 0:
        raise EvaluationError("cannot embed an empty catalogue; check the data path and category filter")
    if batch_size < 1:
        raise EvaluationError(f"batch_size={batch_size} must be at least 1")
    frame = catalogue.frame
    image_key = _image_key(model, catalogue)
    text_key = sha256_hex(
        CACHE_VERSION, "texts", model_identity(model), catalogue.fingerprint, template_text, str(model.context_length)
    )
    images, image_status, _ = _cached(
        image_key, "images", cache, lambda: (_encode_covers(model, catalogue, batch_size), 0)
    )
    texts, text_status, truncated = _cached(
        text_key, "texts", cache, lambda: _encode_captions(model, render_captions(template_text, frame), batch_size)
    )
    result = Embeddings(
        images=images,
        texts=texts,
        book_ids=frame["book_id"].astype(str).to_numpy(),
        group_ids=frame["group_id"].astype(str).to_numpy(),
        template=template_text,
        truncated_texts=truncated,
    )
    _check_finite(result, model)
    return result, CacheStats(image_status, text_status)


def model_identity(model: Any) -> str:
    """The model's `identity` (weights + architecture config + preprocessing + tokenizer).

    Objects without one (duck-typed stand-ins) are keyed by their fingerprint plus their class, config,
    preprocessing and context length, so they cannot share entries with a ClipModel."""
    identity = getattr(model, "identity", None)
    if isinstance(identity, str) and identity:
        return identity
    return sha256_hex(
        "no-identity",
        type(model).__qualname__,
        model.fingerprint,
        json.dumps(getattr(model, "config", None), sort_keys=True, default=repr),
        json.dumps(preprocessing_descriptor(model), sort_keys=True),
        str(model.context_length),
    )


def embedding_cache_dir() -> Path:
    return cache_dir() / "embeddings"


def preprocessing_descriptor(model: Any) -> dict[str, Any]:
    """Everything about cover preprocessing that changes the pixels the model sees."""
    from harness.data.image_cache import RESIZE_METHOD

    config = getattr(model, "preprocess_config", None)
    described = (
        config.to_dict()
        if config is not None
        else {"image_size": model.image_size, "mean": list(model.mean), "std": list(model.std)}
    )
    return {**described, "decode": RESIZE_METHOD, "source": _cover_source(model)}


# --------------------------------------------------------------------------- covers


def _cover_source(model: Any) -> str:
    """Decoded-cache geometry matches CLIP's eval preprocess only for shorter-side bicubic resizing."""
    config = getattr(model, "preprocess_config", None)
    if config is None or (config.resize_mode == "shortest" and config.interpolation == "bicubic"):
        return "decoded-cache"
    return "model-preprocess"


def _image_key(model: Any, catalogue: Any) -> str:
    return sha256_hex(
        CACHE_VERSION,
        "images",
        model_identity(model),
        catalogue.fingerprint,
        json.dumps(preprocessing_descriptor(model), sort_keys=True),
    )


def _encode_covers(model: Any, catalogue: Any, batch_size: int) -> np.ndarray:
    n, batch_size = len(catalogue), forward_rows(model, batch_size)
    out = np.empty((n, model.embed_dim), dtype=np.float32)
    if _cover_source(model) == "decoded-cache":
        from harness.data import decoded_images
        from harness.evaluate.pixels import channel_stats, normalise

        pixels = decoded_images(catalogue, model.image_size)
        mean, std = channel_stats(model.mean, model.std)

        def batch(a: int, b: int) -> torch.Tensor:
            # copy out of the read-only memory map first
            return normalise(torch.from_numpy(np.array(pixels[a:b])), mean, std)
    else:

        def batch(a: int, b: int) -> torch.Tensor:
            return torch.stack([model.preprocess(catalogue.open_image(i)) for i in range(a, b)])

    with torch.inference_mode(), _fast_matmuls(model), progress("embedding covers", n) as advance:
        for a in range(0, n, batch_size):
            b = min(a + batch_size, n)
            out[a:b] = _unit(model.encode_images(batch(a, b)))
            advance(b - a)
    return out


# On CPU, forward passes of at most this many rows keep each activation block of a ViT-B/32-sized
# tower near or under the 32 MiB that harness.models.cpu_heap keeps reusing; larger blocks are mapped
# afresh every batch (256-row passes of the tiny ViTs ran 1.3-1.9x slower a row). A row's embedding
# depends on the batch only at float32 rounding (~1e-7).
CPU_FORWARD_ROWS = 64


def forward_rows(model: Any, batch_size: int) -> int:
    """Rows per forward pass: `batch_size`, at most CPU_FORWARD_ROWS on CPU."""
    return min(batch_size, CPU_FORWARD_ROWS) if _on_cpu(model) else batch_size


def _on_cpu(model: Any) -> bool:
    device = getattr(model, "device", None)
    return device is None or torch.device(device).type == "cpu"


def _fast_matmuls(model: object) -> contextlib.AbstractContextManager[bool | None]:
    """On CPU: oneDNN float32 products for the model's layers while encoding (harness.models.cpu_kernels),
    and freed activations kept in the process between batches (harness.models.cpu_heap)."""
    from harness.models.cpu_heap import keep_freed_memory
    from harness.models.cpu_kernels import onednn_kernels

    module = getattr(model, "module", None)
    if not isinstance(module, torch.nn.Module):
        return contextlib.nullcontext()
    if _on_cpu(model):
        keep_freed_memory()
    return onednn_kernels(module)


# --------------------------------------------------------------------------- captions


def _encode_captions(model: Any, captions: list[str], batch_size: int) -> tuple[np.ndarray, int]:
    batch_size = forward_rows(model, batch_size)
    out = np.empty((len(captions), model.embed_dim), dtype=np.float32)
    before = int(getattr(model, "truncated_texts", 0))
    with torch.inference_mode(), _fast_matmuls(model), progress("embedding captions", len(captions)) as advance:
        for a in range(0, len(captions), batch_size):
            b = min(a + batch_size, len(captions))
            out[a:b] = _unit(model.encode_texts(captions[a:b]))
            advance(b - a)
    return out, int(getattr(model, "truncated_texts", 0)) - before


def encode_texts(model: Any, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
    """L2-normalised embeddings of arbitrary texts (prompts, probes); not cached."""
    return _encode_captions(model, list(texts), batch_size)[0]


def cached_texts(model: Any, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
    """`encode_texts` through the embedding cache, keyed by the model's identity and every text: a warm
    run's probe titles (the same perturbations of the same books) are read, not encoded again."""
    return _cached_text_list(model, texts, batch_size)[0]


def cached_text_truncation(model: Any, texts: Sequence[str], *, batch_size: int = 256) -> int:
    """How many of `texts` the model's tokenizer cut at its context length, as counted when `cached_texts`
    encoded them (stored with their entry): no tokenizer is needed for texts already in the cache."""
    return _cached_text_list(model, texts, batch_size)[1]


def _cached_text_list(model: Any, texts: Sequence[str], batch_size: int) -> tuple[np.ndarray, int]:
    texts = list(texts)
    key = sha256_hex(
        CACHE_VERSION,
        "text-list",
        model_identity(model),
        str(model.context_length),
        json.dumps(texts, ensure_ascii=False),
    )
    array, _, truncated = _cached(key, "texts", True, lambda: _encode_captions(model, texts, batch_size))
    return array, truncated


def encode_covers(model: Any, catalogue: Any, batch_size: int = 256) -> np.ndarray:
    """L2-normalised cover embeddings of `catalogue`'s rows (decoded-image cache + normalise); not cached here.
    What embed() runs for covers, and what Spark executors run on their rows."""
    return _encode_covers(model, catalogue, batch_size)


def encode_captions(model: Any, captions: Sequence[str], batch_size: int = 256) -> tuple[np.ndarray, int]:
    """(L2-normalised caption embeddings, captions truncated at the context length); not cached here."""
    return _encode_captions(model, list(captions), batch_size)


def check_finite(emb: Embeddings, model: Any) -> None:
    """Raise EvaluationError naming the first book whose embedding holds NaN/inf."""
    _check_finite(emb, model)


# --------------------------------------------------------------------------- cache


def _cached(
    key: str, kind: str, enabled: bool, build: Callable[[], tuple[np.ndarray, int]]
) -> tuple[np.ndarray, str, int]:
    """(array, status, truncated count): from the cache when a valid entry exists, else built and stored."""
    if not enabled:
        array, truncated = build()
        return array, "off", truncated
    path = embedding_cache_dir() / f"{kind}-{key[:40]}.npz"
    status = "built"
    if path.exists():
        loaded, problem = _read_entry(path, key)
        if loaded is not None:
            return loaded[0], "hit", loaded[1]
        status = f"rebuilt: {problem}"
    array, truncated = build()
    _write_entry(path, key, array, truncated)
    return array, status, truncated


def _checksum(key: str, array: np.ndarray, truncated: int) -> str:
    return sha256_hex(
        key, str(array.dtype), json.dumps(list(array.shape)), str(truncated), np.ascontiguousarray(array).tobytes()
    )


def _write_entry(path: Path, key: str, array: np.ndarray, truncated: int) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        embeddings=array,
        truncated=np.array(truncated, dtype=np.int64),
        checksum=np.array(_checksum(key, array, truncated)),
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _read_entry(path: Path, key: str) -> tuple[tuple[np.ndarray, int] | None, str]:
    try:
        with np.load(path, allow_pickle=False) as data:
            array = np.array(data["embeddings"], dtype=np.float32)
            truncated = int(data["truncated"])
            stored = str(data["checksum"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return None, f"unreadable cache file ({type(exc).__name__})"
    if stored != _checksum(key, array, truncated):
        return None, "checksum mismatch"
    return (array, truncated), ""


# --------------------------------------------------------------------------- checks


def _unit(x: torch.Tensor) -> np.ndarray:
    x = x.float()
    unit: np.ndarray = (x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()
    return unit


def _check_finite(emb: Embeddings, model: Any) -> None:
    for name, matrix in (("cover", emb.images), ("caption", emb.texts)):
        if isinstance(matrix, StoredMatrix) and not matrix.store.nonfinite:
            continue  # its writers counted no NaN/inf rows
        bad = ~np.isfinite(np.asarray(matrix)).all(axis=1)
        if bad.any():
            first = int(np.argmax(bad))
            raise EvaluationError(
                f"model {model.spec} gives NaN/inf {name} embeddings for {int(bad.sum())} rows "
                f"(first: book {emb.book_ids[first]}); check the checkpoint's weights"
            )
