"""Drawing the generated fixture's 128x128 covers with Pillow's own scalable font.

Layout: the upper "title region" (a light panel) holds the title text and one signature tile per
vocabulary word, in title order; below it the category's background and motif show, with the
author in small type. `with_title=False` leaves the panel blank (the cover-text control): only
the category look and the author remain.
"""

from __future__ import annotations

import random
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from harness.data.fixture_vocabulary import (
    CategoryStyle,
    WordSignature,
    category_style,
    signature_words,
    word_signatures,
)
from harness.data.titles import restore_article

COVER_SIZE = 128
TITLE_REGION = (5, 5, 122, 92)  # left, top, right, bottom (inclusive) of the panel
PANEL_COLOUR = (246, 242, 230)
TITLE_INK = (25, 25, 25)
TILE_OUTLINE = (110, 110, 110)
TILE_WIDTH, TILE_HEIGHT, TILE_TOP, TILE_LEFT, TILE_GAP = 22, 28, 61, 8, 1
MAX_TILES = 5
_TITLE_SIZES = (15, 13, 11, 9)
_TITLE_TOP, _TITLE_BOTTOM, _TITLE_WIDTH = 9, 58, 110


def draw_cover(title: str, author: str, category: str, *, seed: int, with_title: bool = True) -> Image.Image:
    """An RGB cover for a book. The title region depends only on the title; `seed` varies the rest.

    Different seeds give different editions of one book: same title region, another background.
    """
    rng = random.Random(f"bookclip-cover:{seed}:{category}:{title}:{author}")
    style = category_style(category)
    background = tuple(max(0, min(255, c + rng.randint(-14, 14))) for c in style.background)
    image = Image.new("RGB", (COVER_SIZE, COVER_SIZE), background)
    draw = ImageDraw.Draw(image)
    _draw_motif(draw, style, rng)
    draw.rectangle(TITLE_REGION, fill=PANEL_COLOUR)
    if with_title:
        shown = restore_article(title)
        _draw_title_text(draw, _drawable(shown))
        for i, signature in enumerate(signature_words(shown, word_signatures())[:MAX_TILES]):
            _draw_tile(draw, TILE_LEFT + i * (TILE_WIDTH + TILE_GAP), TILE_TOP, signature)
    if author:
        font = ImageFont.load_default(size=10)
        text = _fit_line(_drawable(author), font, COVER_SIZE - 12)
        width = draw.textlength(text, font=font)
        draw.text(((COVER_SIZE - width) / 2, 106), text, font=font, fill=style.ink)
    return image


def _draw_title_text(draw: ImageDraw.ImageDraw, title: str) -> None:
    for size in _TITLE_SIZES:
        font = ImageFont.load_default(size=size)
        lines = _wrap(title, font, _TITLE_WIDTH)
        line_height = size + 2
        if len(lines) * line_height <= _TITLE_BOTTOM - _TITLE_TOP or size == _TITLE_SIZES[-1]:
            break
    max_lines = (_TITLE_BOTTOM - _TITLE_TOP) // line_height
    for i, line in enumerate(lines[:max_lines]):
        width = draw.textlength(line, font=font)
        draw.text(((COVER_SIZE - width) / 2, _TITLE_TOP + i * line_height), line, font=font, fill=TITLE_INK)


def _drawable(text: str) -> str:
    # The bundled font has no accented glyphs: draw "Crème" as "Creme" rather than as a box.
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return [_fit_line(line, font, width) for line in lines]


def _fit_line(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    while len(text) > 1 and font.getlength(text) > width:
        text = text[:-1]
    return text


def _draw_tile(draw: ImageDraw.ImageDraw, x: int, y: int, sig: WordSignature) -> None:
    w, h = TILE_WIDTH, TILE_HEIGHT
    a, b = sig.first, sig.second
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=a)
    if sig.pattern == "left-right":
        draw.rectangle((x + w // 2, y, x + w - 1, y + h - 1), fill=b)
    elif sig.pattern == "top-bottom":
        draw.rectangle((x, y + h // 2, x + w - 1, y + h - 1), fill=b)
    elif sig.pattern == "frame":
        draw.rectangle((x + 6, y + 7, x + w - 7, y + h - 8), fill=b)
    elif sig.pattern == "diagonal":
        draw.polygon([(x, y + h - 1), (x + w - 1, y), (x + w - 1, y + h - 1)], fill=b)
    elif sig.pattern == "checker":
        draw.rectangle((x + w // 2, y, x + w - 1, y + h // 2 - 1), fill=b)
        draw.rectangle((x, y + h // 2, x + w // 2 - 1, y + h - 1), fill=b)
    elif sig.pattern == "h-stripes":
        draw.rectangle((x, y + h // 3, x + w - 1, y + 2 * h // 3 - 1), fill=b)
    elif sig.pattern == "v-stripes":
        draw.rectangle((x + w // 3, y, x + 2 * w // 3 - 1, y + h - 1), fill=b)
    draw.rectangle((x, y, x + w - 1, y + h - 1), outline=TILE_OUTLINE)


def _draw_motif(draw: ImageDraw.ImageDraw, style: CategoryStyle, rng: random.Random) -> None:
    accent = style.accent
    size = COVER_SIZE
    if style.motif == "circles":
        cx, cy = rng.randint(20, 108), rng.randint(96, 120)
        for r in range(6, 60, 7):
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=accent, width=2)
    elif style.motif == "crosses":
        for _ in range(5):
            cx, cy = rng.randint(8, 120), rng.randint(96, 124)
            draw.rectangle((cx - 6, cy - 2, cx + 6, cy + 2), fill=accent)
            draw.rectangle((cx - 2, cy - 6, cx + 2, cy + 6), fill=accent)
    elif style.motif == "leaves":
        for _ in range(7):
            cx, cy = rng.randint(0, size), rng.randint(92, size)
            draw.ellipse((cx - 9, cy - 4, cx + 9, cy + 4), fill=accent)
    elif style.motif == "portrait":
        cx = rng.randint(30, 98)
        draw.ellipse((cx - 9, 93, cx + 9, 113), fill=accent)
        draw.pieslice((cx - 24, 110, cx + 24, 150), 180, 360, fill=accent)
    elif style.motif == "stars":
        for _ in range(40):
            cx, cy = rng.randint(0, size - 1), rng.randint(0, size - 1)
            r = rng.choice((1, 1, 2))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=accent)
    elif style.motif == "gingham":
        offset = rng.randint(0, 11)
        for x in range(-offset, size, 12):
            draw.rectangle((x, 0, x + 5, size), fill=accent)
        for y in range(-offset, size, 12):
            draw.rectangle((0, y, size, y + 5), fill=accent)
