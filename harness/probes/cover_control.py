"""Cover-text control: the same catalogue with each cover's title hidden.

Covers print their titles, so a model can pass a title probe by reading letters. The control
view hides them: covers of the generated fixture are redrawn without their title
(`draw_cover(..., with_title=False)`, same edition seed, same greyscale and JPEG settings); real
covers get their upper part masked with its mean colour (or blurred), where titles usually sit.
The control is a Catalogue whose image files are the hidden-title covers, so it goes through
the same embedding (and embedding cache) as the original.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFilter, ImageStat

from harness.data import Catalogue
from harness.errors import DataError
from harness.io import atomic_path, atomic_write_text, cache_dir, sha256_hex

MASKED_FRACTION = 0.45  # upper share of a real cover hidden: where its title usually is
FIXTURE_MARKER = "fixture.json"
CONTROL_VERSION = "v1"
_PAST = {"mask": "masked", "blur": "blurred"}


@dataclass(frozen=True)
class ControlView:
    """The hidden-title catalogue and how many covers each method produced."""

    catalogue: Catalogue
    redrawn: int  # fixture covers redrawn without their title
    masked: int  # real covers with their upper part hidden
    method: str

    def to_dict(self) -> dict[str, object]:
        return {"redrawn": self.redrawn, "masked": self.masked, "method": self.method}


def hide_title_region(image: Image.Image, *, fraction: float = MASKED_FRACTION, method: str = "mask") -> Image.Image:
    """The cover with its upper `fraction` filled with that region's mean colour ("mask") or blurred ("blur")."""
    image = image.convert("RGB")
    width, height = image.size
    box = (0, 0, width, max(1, int(round(height * fraction))))
    region = image.crop(box)
    if method == "mask":
        fill = tuple(int(round(c)) for c in ImageStat.Stat(region).mean)
        region = Image.new("RGB", region.size, fill)
    elif method == "blur":
        region = region.filter(ImageFilter.GaussianBlur(radius=max(2.0, width / 10)))
    else:
        raise DataError(f"unknown cover-control method {method!r}; use 'mask' or 'blur'")
    out = image.copy()
    out.paste(region, box)
    return out


def _fixture_books(root: Path) -> dict[tuple[str, str], object] | None:
    """(category, file name) -> FixtureBook for a generated fixture directory, else None."""
    marker = root / FIXTURE_MARKER
    if not marker.is_file():
        return None
    from harness.data.fixtures import generate_books

    recipe = json.loads(marker.read_text(encoding="utf-8"))
    books = generate_books(seed=int(recipe["seed"]), books_per_category=int(recipe["books_per_category"]))
    return {
        (category, f"{n:07d}.jpg"): book for category, rows in books.items() for n, book in enumerate(rows, start=1)
    }


def control_view(catalogue: Catalogue, *, method: str = "mask", fraction: float = MASKED_FRACTION) -> ControlView:
    """The catalogue with title-hidden covers, written once under cache_dir()/probes/cover-control."""
    from harness.data.fixture_covers import draw_cover

    key = sha256_hex(CONTROL_VERSION, catalogue.fingerprint, method, repr(fraction))[:24]
    folder = cache_dir() / "probes" / "cover-control" / key
    fixtures: dict[Path, dict[tuple[str, str], object] | None] = {}
    paths, redrawn, masked = [], 0, 0
    for i, source in enumerate(catalogue.frame["image_path"]):
        source = Path(source)
        root = source.parent.parent
        if root not in fixtures:
            fixtures[root] = _fixture_books(root)
        book = (fixtures[root] or {}).get((source.parent.name, source.name))
        book_id = catalogue.frame["book_id"].iat[i]
        if book is not None:
            target = folder / f"{book_id}.jpg"
            redrawn += 1
        else:
            target = folder / f"{book_id}.png"
            masked += 1
        paths.append(str(target))
        if target.is_file():
            continue
        if book is not None:
            image = draw_cover(
                book.cover_title,  # type: ignore[attr-defined]
                book.author,  # type: ignore[attr-defined]
                book.cover_category,  # type: ignore[attr-defined]
                seed=book.cover_seed,  # type: ignore[attr-defined]
                with_title=False,
            )
            if book.greyscale:  # type: ignore[attr-defined]
                image = image.convert("L")
            with atomic_path(target) as tmp:
                image.save(tmp, format="JPEG", quality=92, optimize=False, progressive=False)
        else:
            with atomic_path(target) as tmp:
                hide_title_region(catalogue.open_image(i), fraction=fraction, method=method).save(tmp, format="PNG")
    atomic_write_text(folder / "source.txt", f"{catalogue.fingerprint}\n")
    frame = catalogue.frame.copy()
    frame["image_path"] = paths
    return ControlView(
        Catalogue(frame),
        redrawn=redrawn,
        masked=masked,
        method=("redrawn without title" if redrawn else "")
        + (" + " if redrawn and masked else "")
        + (f"upper {fraction:.0%} {_PAST[method]}" if masked else ""),
    )
