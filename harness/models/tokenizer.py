"""Text tokenisation for CLIP text towers, counting the texts cut at the context length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class TitleTokenizer:
    """open_clip's CLIP BPE tokenizer at a fixed context length, with truncation reported.

    Calling it gives the (N, context_length) LongTensor open_clip gives; `tokenize` also returns
    how many texts were longer than the context length (start and end tokens included).
    """

    def __init__(self, context_length: int, inner: Any | None = None) -> None:
        if inner is None:
            from open_clip.tokenizer import SimpleTokenizer

            inner = SimpleTokenizer(context_length=context_length)
        self.inner = inner
        self.context_length = int(context_length)

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, int]:
        if isinstance(texts, str):
            texts = [texts]
        inner = self.inner
        result = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        truncated = 0
        for i, text in enumerate(texts):
            tokens = [inner.sot_token_id, *inner.encode(text), inner.eot_token_id]
            if len(tokens) > self.context_length:
                truncated += 1
                tokens = tokens[: self.context_length]
                tokens[-1] = inner.eot_token_id  # keep the end token: the text tower pools at it
            result[i, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return result, truncated

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenize(texts)[0]

    def describe(self) -> dict[str, Any]:
        """What decides the token ids: the BPE vocabulary, its special tokens, the context length."""
        inner = self.inner
        vocab = getattr(inner, "encoder", None)
        return {
            "kind": "clip-bpe",
            "class": f"{type(inner).__module__}.{type(inner).__qualname__}",
            "context_length": self.context_length,
            "vocab_size": len(vocab) if vocab is not None else None,
            "sot": getattr(inner, "sot_token_id", None),
            "eot": getattr(inner, "eot_token_id", None),
            "truncate": "keep-eot",
        }


class OpaqueTokenizer:
    """Any other open_clip tokenizer (Hugging Face, SigLIP); truncation is not visible through it."""

    def __init__(self, inner: Callable[..., torch.Tensor], context_length: int) -> None:
        self.inner = inner
        self.context_length = int(context_length)

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, int]:
        return self.inner(list(texts)), 0

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        return self.inner(list(texts))

    def describe(self) -> dict[str, Any]:
        inner = self.inner
        name = (
            getattr(inner, "tokenizer_name", None)
            or getattr(inner, "name_or_path", None)
            or getattr(getattr(inner, "tokenizer", None), "name_or_path", None)
        )
        return {
            "kind": "opaque",
            "class": f"{type(inner).__module__}.{type(inner).__qualname__}",
            "name": str(name) if name else None,
            "context_length": self.context_length,
        }


def tokenizer_for(config: dict[str, Any], arch: str | None = None) -> TitleTokenizer | OpaqueTokenizer:
    """The tokenizer a model config asks for: CLIP BPE unless the text tower names another."""
    text_cfg = config.get("text_cfg", {})
    context_length = int(text_cfg.get("context_length", 77))
    if arch and (text_cfg.get("hf_tokenizer_name") or "siglip" in arch.lower()):
        import open_clip

        return OpaqueTokenizer(open_clip.get_tokenizer(arch, context_length=context_length), context_length)
    return TitleTokenizer(context_length)
