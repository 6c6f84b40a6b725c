"""ClipModel: an open_clip model with its preprocessing, tokenizer, config and weight fingerprint."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import CheckpointError
from harness.io import sha256_hex
from harness.models.fingerprint import fingerprint_state_dict

if TYPE_CHECKING:
    from open_clip.model import CLIP, CustomTextCLIP

    from harness.models.tokenizer import Tokenizer

IDENTITY_VERSION = "model-identity-v1"

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class PreprocessConfig:
    """How covers become model input: resize the shorter side, centre crop, normalise."""

    image_size: int
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "resize_mode": self.resize_mode,
        }

    @classmethod
    def from_dict(cls, data: Any, image_size: int, *, source: str = "checkpoint") -> PreprocessConfig:
        """Read (and check) a preprocessing record against the architecture's `image_size`.

        Raises CheckpointError for anything else than what the architecture takes: another image size
        (a header must not decide how much memory the pixel cache takes), a mean/std that is not three
        finite numbers, an unknown interpolation or resize mode."""
        if not isinstance(data, dict):
            raise CheckpointError(
                f"{source}: preprocess metadata is a {type(data).__name__}, not an object; re-save the checkpoint"
            )
        size = data.get("image_size", image_size)
        if isinstance(size, (list, tuple)) and len(size) == 2 and size[0] == size[1]:
            size = size[0]
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size != int(size) or int(size) != image_size:
            raise CheckpointError(
                f"{source}: preprocess image_size {size!r} does not match the architecture's "
                f"image_size {image_size}; fix the checkpoint's preprocess metadata"
            )
        mean, std = data.get("mean", OPENAI_MEAN), data.get("std", OPENAI_STD)
        for name, value in (("mean", mean), ("std", std)):
            if (
                not isinstance(value, (list, tuple))
                or len(value) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
                or (name == "std" and min(value) <= 0)
            ):
                raise CheckpointError(
                    f"{source}: preprocess {name} {value!r} is not three finite numbers"
                    f"{' above 0' if name == 'std' else ''}; "
                    "fix the checkpoint's preprocess metadata"
                )
        interpolation, resize_mode = data.get("interpolation", "bicubic"), data.get("resize_mode", "shortest")
        if interpolation not in _INTERPOLATIONS or resize_mode not in _RESIZE_MODES:
            raise CheckpointError(
                f"{source}: preprocess interpolation {interpolation!r} / resize_mode {resize_mode!r} "
                f"is not one of {sorted(_INTERPOLATIONS)} / {sorted(_RESIZE_MODES)}"
            )
        return cls(
            image_size=int(size),
            mean=_three_floats(mean),
            std=_three_floats(std),
            interpolation=str(interpolation),
            resize_mode=str(resize_mode),
        )


def _three_floats(values: Sequence[float]) -> tuple[float, float, float]:
    first, second, third = values  # checked above: three finite numbers
    return float(first), float(second), float(third)


_INTERPOLATIONS = frozenset({"bicubic", "bilinear", "nearest"})
_RESIZE_MODES = frozenset({"shortest", "longest", "squash"})


def image_size_of(config: dict[str, Any]) -> int:
    vision = config.get("vision_cfg") if isinstance(config, dict) else None
    size = vision.get("image_size", 224) if isinstance(vision, dict) else None
    if isinstance(size, (list, tuple)) and size:
        size = size[0]
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4096:
        raise CheckpointError(
            f"model config vision_cfg.image_size {size!r} is not a whole number of pixels "
            "(1..4096); fix the architecture config"
        )
    return size


class ClipModel:
    """A loaded CLIP model. `encode_*` return raw (not normalised) embeddings on the model's device.

    The module is in eval mode; then `encode_*` run without autograd. Put `module` in train mode to get
    gradients through them. `fingerprint` is the hash of the current weights (see fingerprint_state_dict):
    it is recomputed when a weight tensor is replaced or changed in place (an optimiser step,
    `load_state_dict`, `p.add_(...)`), so embedding caches keyed by it never serve stale entries.
    Edits through `p.data` bypass autograd's version counters; call `refresh_fingerprint()` after those.
    """

    def __init__(
        self,
        module: CLIP | CustomTextCLIP,
        *,
        config: dict[str, Any],
        spec: str,
        tokenizer: Tokenizer,
        preprocess_config: PreprocessConfig,
        fingerprint: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._module: CLIP | CustomTextCLIP | None = module.eval()
        self._build: Callable[[], CLIP | CustomTextCLIP] | None = None
        self._device = torch.device("cpu")
        self.config = config
        self.spec = spec
        self._tokenizer: Tokenizer | None = tokenizer
        self._make_tokenizer: Callable[[], Tokenizer] | None = None
        self._tokenizer_description: dict[str, Any] | None = None
        self.preprocess_config = preprocess_config
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._fingerprint = fingerprint or fingerprint_state_dict(module.state_dict())
        self._weights_version = self._weights_signature()
        self.truncated_texts = 0

    @classmethod
    def deferred(
        cls,
        build: Callable[[], CLIP | CustomTextCLIP],
        *,
        config: dict[str, Any],
        spec: str,
        make_tokenizer: Callable[[], Tokenizer],
        tokenizer_description: dict[str, Any],
        preprocess_config: PreprocessConfig,
        fingerprint: str,
        metadata: dict[str, Any] | None = None,
    ) -> ClipModel:
        """A model whose module and tokenizer are built on first use, from what an earlier load recorded
        (harness.models.load_records): a run served by the embedding caches builds neither, nor imports
        open_clip. `fingerprint` is checked against the weights when the module is built."""
        model = cls.__new__(cls)
        model._module, model._build, model._device = None, build, torch.device("cpu")
        model.config, model.spec, model.preprocess_config = config, spec, preprocess_config
        model._tokenizer, model._make_tokenizer = None, make_tokenizer
        model._tokenizer_description = tokenizer_description
        model.metadata = dict(metadata or {})
        model._fingerprint, model._weights_version = fingerprint, ()
        model.truncated_texts = 0
        return model

    @property
    def built(self) -> bool:
        """Whether the module exists (a deferred model builds it on first use of `module`)."""
        return self._module is not None

    @property
    def module(self) -> CLIP | CustomTextCLIP:
        if self._module is None:
            assert self._build is not None
            # first use may come inside torch.inference_mode (an encoder's loop): the weights must still
            # be ordinary tensors, as an eager load's are (version counters, training later)
            with torch.inference_mode(False):
                module = self._build().to(self._device).eval()
            built = fingerprint_state_dict(module.state_dict())
            if built != self._fingerprint:
                # the file changed in place under unchanged stats: its cached numbers would be another model's
                raise CheckpointError(
                    f"{self.spec}: the weights read now (fingerprint {built[:12]}) are not the ones recorded "
                    f"for this file ({self._fingerprint[:12]}); the file changed in place, run again"
                )
            self._module = module
            self._weights_version = self._weights_signature()
        return self._module

    @module.setter
    def module(self, module: CLIP | CustomTextCLIP) -> None:
        self._module = module

    @property
    def tokenizer_built(self) -> bool:
        """Whether the tokenizer exists (a deferred model builds it on first use of `tokenizer`)."""
        return self._tokenizer is not None

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            assert self._make_tokenizer is not None
            self._tokenizer = self._make_tokenizer()
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: Tokenizer) -> None:
        self._tokenizer, self._tokenizer_description = tokenizer, None

    @functools.cached_property
    def preprocess(self) -> Callable[[Any], torch.Tensor]:
        """The model's own eval transform for a PIL cover (open_clip's, imported on first use)."""
        from open_clip.transform import image_transform

        config = self.preprocess_config
        transform: Callable[[Any], torch.Tensor] = image_transform(
            config.image_size,
            is_train=False,
            mean=config.mean,
            std=config.std,
            interpolation=config.interpolation,
            resize_mode=config.resize_mode,
        )
        return transform

    def _weights_signature(self) -> tuple[tuple[int, int, int], ...]:
        # identity, storage and in-place version counter of every tensor: cheap to read, and any
        # replacement or in-place write changes it
        return tuple((id(t), t.data_ptr(), t._version) for t in self.module.state_dict(keep_vars=True).values())

    @property
    def fingerprint(self) -> str:
        if self._module is None:
            return self._fingerprint  # recorded for the file; checked when the module is built
        signature = self._weights_signature()
        if signature != self._weights_version:
            self._fingerprint = fingerprint_state_dict(self.module.state_dict())
            self._weights_version = signature
        return self._fingerprint

    @property
    def identity(self) -> str:
        """What produced this model's numbers: SHA-256 over the weights fingerprint, the architecture
        config, the preprocessing and the tokenizer. Key every cache of model outputs by it.

        `fingerprint` stays the hash of the weights alone (provenance records use it); two models with
        the same weights but another config (`quick_gelu`, `pool_type`...), preprocessing or tokenizer
        have different identities. Follows the weights as `fingerprint` does.
        """
        return sha256_hex(
            IDENTITY_VERSION, self.fingerprint, json.dumps(self.identity_parts(), sort_keys=True, default=repr)
        )

    def identity_parts(self) -> dict[str, Any]:
        """Everything besides the weights that `identity` covers, as JSON-able data."""
        if self._tokenizer is None and self._tokenizer_description is not None:
            return {
                "config": self.config,
                "preprocess": self.preprocess_config.to_dict(),
                "tokenizer": self._tokenizer_description,
            }
        describe = getattr(self.tokenizer, "describe", None)
        tokenizer = (
            describe()
            if callable(describe)
            else {
                "class": f"{type(self.tokenizer).__module__}.{type(self.tokenizer).__qualname__}",
                "context_length": getattr(self.tokenizer, "context_length", None),
            }
        )
        return {"config": self.config, "preprocess": self.preprocess_config.to_dict(), "tokenizer": tokenizer}

    def refresh_fingerprint(self) -> str:
        """Hash the weights again, whatever the version counters say."""
        self._fingerprint = fingerprint_state_dict(self.module.state_dict())
        self._weights_version = self._weights_signature()
        return self._fingerprint

    @property
    def image_size(self) -> int:
        return self.preprocess_config.image_size

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preprocess_config.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preprocess_config.std

    @property
    def context_length(self) -> int:
        if self._tokenizer is None and self._tokenizer_description is not None:
            return int(self._tokenizer_description["context_length"])  # recorded with the tokenizer's build
        return int(self.tokenizer.context_length)

    @property
    def embed_dim(self) -> int:
        return int(self.config["embed_dim"])

    @property
    def device(self) -> torch.device:
        if self._module is None:
            return self._device
        first: torch.nn.Parameter = next(self.module.parameters())
        return first.device

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def _grad_context(self) -> torch.enable_grad | torch.no_grad:
        return torch.enable_grad() if self.module.training and torch.is_grad_enabled() else torch.no_grad()

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) preprocessed covers -> (N, embed_dim) float embeddings."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
        with self._grad_context():
            embeddings: torch.Tensor = self.module.encode_image(images.to(self.device, torch.float32)).float()
        return embeddings

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Titles -> (N, embed_dim) float embeddings; titles cut at the context length add to `truncated_texts`."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not one string")
        tokens, truncated = self.tokenizer.tokenize(list(texts))
        self.truncated_texts += truncated
        with self._grad_context():
            embeddings: torch.Tensor = self.module.encode_text(tokens.to(self.device)).float()
        return embeddings

    def state_dict(self) -> dict[str, torch.Tensor]:
        state: dict[str, torch.Tensor] = self.module.state_dict()
        return state

    def to(self, device: str | torch.device) -> ClipModel:
        if self._module is None:
            self._device = torch.device(device)  # where the module goes when it is built
            return self
        self.module.to(device)
        return self

    def __repr__(self) -> str:
        return f"ClipModel(spec={self.spec!r}, embed_dim={self.embed_dim}, fingerprint={self.fingerprint[:12]})"
