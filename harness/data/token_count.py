"""Counting CLIP BPE tokens of a title without importing torch.

The same cleaning, pre-tokenising pattern and merges as the OpenAI/open_clip SimpleTokenizer,
read from open_clip's bundled vocabulary, so `bookclip data validate` can flag titles that a
CLIP text tower would truncate while staying fast.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
from pathlib import Path

import ftfy
import regex

_PATTERN = regex.compile(
    r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE
)
_N_MERGES = 49152 - 256 - 2


def _bundled_vocabulary() -> Path:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("open_clip_torch is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def _byte_symbols() -> dict[int, str]:
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return symbols


class ClipTokenCounter:
    """`count(text)` = number of BPE tokens the CLIP tokenizer makes of `text` (without start/end)."""

    def __init__(self, vocabulary: Path | None = None) -> None:
        lines = gzip.open(vocabulary or _bundled_vocabulary()).read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _N_MERGES + 1]]
        self._ranks = {pair: i for i, pair in enumerate(merges)}
        self._bytes = _byte_symbols()
        self._cache: dict[str, int] = {}
        self._texts: dict[str, int] = {}  # whole texts: cleaning them (ftfy) costs more than counting

    def count(self, text: str) -> int:
        if text not in self._texts:
            self._texts[text] = self._count(text)
        return self._texts[text]

    def _count(self, text: str) -> int:
        cleaned = " ".join(html.unescape(html.unescape(ftfy.fix_text(text))).strip().split()).lower()
        total = 0
        for piece in _PATTERN.findall(cleaned):
            symbols = "".join(self._bytes[b] for b in piece.encode("utf-8"))
            if symbols not in self._cache:
                self._cache[symbols] = self._merge_count(symbols)
            total += self._cache[symbols]
        return total

    def _merge_count(self, token: str) -> int:
        if token in ("<start_of_text>", "<end_of_text>"):
            return 1
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda pair: self._ranks.get(pair, float("inf")))
            if best not in self._ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return len(word)
