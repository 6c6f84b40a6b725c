"""The original write-up's probe, kept as a named case.

The write-up's only check was whether the cover of *The Power of Now* (Mind-Body-Spirit)
prefers "The Power of Nowww" over three other prompts. Here it is reported as what it is: a
ranking of four prompts by cosine similarity for one cover, plus the softmax share among those
four prompts (at the model's logit scale), which is not an accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from harness.errors import DataError
from harness.probes.scoring import encode_titles, unit_rows

if TYPE_CHECKING:
    from harness.data import Catalogue
    from harness.models import ClipModel

WRITEUP_TITLE = "The Power of Now"
WRITEUP_CATEGORY = "Mind-Body-Spirit"
WRITEUP_PROMPTS = ("Lord of Rings", "The Power of Nowww", "random book", "Health Power")
SHARE_NOTE = (
    "softmax share among these {n} prompts only, at the model's logit scale; it says which "
    "prompt the cover prefers, not how accurate the model is"
)


@dataclass(frozen=True)
class WriteupCase:
    """One cover scored against a few prompts: cosine similarities, ranking and softmax shares."""

    title: str
    category: str
    book_id: str
    image_path: str
    prompts: tuple[str, ...]
    similarities: tuple[float, ...]  # cosine similarity of the cover to each prompt, in prompt order
    logit_scale: float
    shares: tuple[float, ...]  # softmax(logit_scale * similarity) over the prompts

    @property
    def note(self) -> str:
        return SHARE_NOTE.format(n=len(self.prompts))

    def ranking(self) -> list[tuple[int, str, float, float]]:
        """(rank, prompt, cosine, share), most similar first; ties keep the prompts' order."""
        order = sorted(range(len(self.prompts)), key=lambda i: (-self.similarities[i], i))
        return [(r + 1, self.prompts[i], self.similarities[i], self.shares[i]) for r, i in enumerate(order)]

    def to_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "category": self.category,
            "book_id": self.book_id,
            "image_path": self.image_path,
            "logit_scale": self.logit_scale,
            "note": self.note,
            "ranking": [{"rank": r, "prompt": p, "cosine": c, "share": s} for r, p, c, s in self.ranking()],
        }

    def render(self) -> str:
        lines = [
            f"Cover of {self.title!r} ({self.category}, {self.image_path})",
            f"{'rank':>4}  {'cosine':>8}  {'share':>6}  prompt",
        ]
        lines += [f"{r:>4}  {c:>8.4f}  {s:>6.1%}  {p}" for r, p, c, s in self.ranking()]
        lines.append(f"share: {self.note}")
        return "\n".join(lines)


def find_cover(catalogue: Catalogue, title: str = WRITEUP_TITLE, category: str = WRITEUP_CATEGORY) -> int:
    """Row of the book's cover in `category`; of several editions, the one with the first image path."""
    from harness.data import title_key

    frame = catalogue.frame
    match = frame.index[(frame["title_key"] == title_key(title)) & (frame["category"] == category)]
    if len(match) == 0:
        raise DataError(
            f"no cover titled {title!r} in category {category!r} of this catalogue; "
            "pass --data pointing at the book-covers folder that holds that category "
            "(e.g. ../shared/data/bookcovers)"
        )
    return int(min(match, key=lambda i: (frame["image_path"].iat[i], frame["book_id"].iat[i])))


def writeup_case(
    model: ClipModel,
    catalogue: Catalogue,
    *,
    title: str = WRITEUP_TITLE,
    category: str = WRITEUP_CATEGORY,
    prompts: Sequence[str] = WRITEUP_PROMPTS,
) -> WriteupCase:
    """Score the book's cover against `prompts` with `model` (the write-up's case by default)."""
    row = find_cover(catalogue, title, category)
    pixels = model.preprocess(catalogue.open_image(row)).unsqueeze(0)
    with torch.inference_mode():
        cover = unit_rows(model.encode_images(pixels))[0]
    texts = encode_titles(model, list(prompts))
    similarities = (texts @ cover).astype(np.float64)
    scale = float(model.module.logit_scale.exp().item()) if hasattr(model.module, "logit_scale") else 100.0
    logits = scale * similarities
    shares = np.exp(logits - logits.max())
    shares /= shares.sum()
    return WriteupCase(
        title=title,
        category=category,
        book_id=str(catalogue.frame["book_id"].iat[row]),
        image_path=str(catalogue.frame["image_path"].iat[row]),
        prompts=tuple(prompts),
        similarities=tuple(float(s) for s in similarities),
        logit_scale=scale,
        shares=tuple(float(s) for s in shares),
    )
