"""Text tokenisation for CLIP text towers, counting the texts cut at the context length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from harness.io import sha256_file


class Tokenizer(Protocol):
    """What a model's text side needs of a tokenizer: (N, context_length) ids, and how many texts were cut."""

    context_length: int

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, int]: ...

    def __call__(self, texts: Sequence[str]) -> torch.Tensor: ...


# SHA-256 of CLIP vocabularies (open_clip's bpe_simple_vocab_16e6.txt.gz) in which every whole-word token
# "w</w>" is what BPE makes of the word w, so such a word's id is looked up instead of merged;
# tests/models/test_tokenizer.py checks that on all 34,483 of them.
WHOLE_WORD_VOCABULARIES = frozenset({"924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"})


class TitleTokenizer:
    """open_clip's CLIP BPE tokenizer at a fixed context length, with truncation reported.

    Calling it gives the (N, context_length) LongTensor open_clip gives; `tokenize` also returns
    how many texts were longer than the context length (start and end tokens included).
    """

    def __init__(self, context_length: int, inner: Any | None = None) -> None:
        self.whole_words = False  # whether a word that is a vocabulary token is that token (see above)
        if inner is None:
            from open_clip.tokenizer import SimpleTokenizer, default_bpe

            inner = SimpleTokenizer(context_length=context_length)
            self.whole_words = sha256_file(default_bpe()) in WHOLE_WORD_VOCABULARIES
        self.inner = inner
        self.context_length = int(context_length)
        self._word_ids: dict[str, tuple[int, ...]] = {}
        self._plain_clean = _plain_clean_for(inner)

    def encode(self, text: str) -> list[int]:
        """The BPE ids open_clip's `encode` gives for `text`, a word's ids looked up once per tokenizer.

        Plain titles (printable ASCII without `&`) skip ftfy and HTML unescaping, which leave them as
        they are (tests/models/test_tokenizer.py checks both against open_clip on every title).
        """
        inner = self.inner
        if self._plain_clean and text.isascii() and text.isprintable() and "&" not in text:
            text = " ".join(text.split()).lower()
        else:
            text = inner.clean_fn(text)
        ids: list[int] = []
        word_ids = self._word_ids
        for word in inner.pat.findall(text):
            known = word_ids.get(word)
            if known is None:
                known = word_ids[word] = self._word_ids_of(word)
            ids.extend(known)
        return ids

    def _word_ids_of(self, word: str) -> tuple[int, ...]:
        """open_clip's byte-level BPE of one word: the lowest-ranked adjacent pair is merged everywhere, left
        to right, until no adjacent pair is a merge. Its `bpe` without pair sets, 2.5x faster; special
        tokens (and words open_clip has seen) come from its own table."""
        inner = self.inner
        byte_word = "".join(inner.byte_encoder[b] for b in word.encode("utf-8"))
        known = inner.cache.get(byte_word)
        if known is not None:
            return tuple(inner.encoder[piece] for piece in known.split(" "))
        whole = inner.encoder.get(byte_word + "</w>") if self.whole_words else None
        if whole is not None:
            return (whole,)
        pieces = list(byte_word)
        pieces[-1] += "</w>"
        ranks = inner.bpe_ranks
        while len(pieces) > 1:
            best, best_rank = -1, -1
            for i in range(len(pieces) - 1):
                rank = ranks.get((pieces[i], pieces[i + 1]), -1)
                if rank >= 0 and (best < 0 or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            first, second = pieces[best], pieces[best + 1]
            merged, i, n = pieces[:best], best, len(pieces)  # the first occurrence of the pair is at `best`
            while i < n:
                if i < n - 1 and pieces[i] == first and pieces[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(pieces[i])
                    i += 1
            pieces = merged
        return tuple(inner.encoder[piece] for piece in pieces)

    def tokenize(self, texts: Sequence[str]) -> tuple[torch.Tensor, int]:
        if isinstance(texts, str):
            texts = [texts]
        inner, length = self.inner, self.context_length
        result = np.zeros((len(texts), length), dtype=np.int64)  # one buffer: a tensor per row costs more than the BPE
        truncated = 0
        for i, text in enumerate(texts):
            tokens = [inner.sot_token_id, *self.encode(text), inner.eot_token_id]
            if len(tokens) > length:
                truncated += 1
                tokens = tokens[:length]
                tokens[-1] = inner.eot_token_id  # keep the end token: the text tower pools at it
            result[i, : len(tokens)] = tokens
        return torch.from_numpy(result), truncated

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


def _plain_clean_for(inner: Any) -> bool:
    """Whether `inner` cleans text with open_clip's default (ftfy, HTML unescaping, whitespace, lower case),
    whose result on printable ASCII without `&` is its whitespace collapsed and lower-cased."""
    try:
        from open_clip.tokenizer import _clean_lower
    except ImportError:  # another open_clip: every text goes through the tokenizer's own cleaning
        return False
    return getattr(inner, "clean_fn", None) is _clean_lower
