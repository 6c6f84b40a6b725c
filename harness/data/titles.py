"""Title normalisation: one key for every way a catalogue spells the same title."""

from __future__ import annotations

import re
import unicodedata

# "Gifts Of Imperfection, The:" / "First Forty Days, The:The Essential Art" -> article moved back
_TRAILING_ARTICLE = re.compile(r"^(?P<head>.+?),\s*(?P<article>the|a|an)\s*(?::(?P<rest>.*))?$", re.IGNORECASE)
_NON_WORD = re.compile(r"[^\w]+")


def restore_article(title: str) -> str:
    """Move a trailing article back to the front: "Power of Now, The:" -> "The Power of Now".

    A subtitle after the moved article is kept: "Days, The:The Art" -> "The Days: The Art".
    Titles without the pattern come back stripped but otherwise unchanged.
    """
    text = " ".join(title.split())
    match = _TRAILING_ARTICLE.match(text)
    if not match:
        return text
    head = match.group("head").strip()
    article = match.group("article")
    rest = (match.group("rest") or "").strip()
    restored = f"{article[0].upper()}{article[1:]} {head}"
    return f"{restored}: {rest}" if rest else restored


def title_key(title: str) -> str:
    """Normalised identity of a title: article restored, NFKC, case-folded, punctuation and spacing removed.

    "Gifts Of Imperfection, The:" and "The Gifts of Imperfection" give the same key. Accents are kept
    (they can tell titles apart); underscores count as punctuation. Invisible format characters (zero-width
    joiners and spaces, bidi controls) are dropped first, so "Edu\u200dcated" is "educated". A title with no
    letters or digits has the empty key: it names no book (the loader skips it).
    """
    visible = "".join(ch for ch in title if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", restore_article(visible)).casefold()
    text = text.replace("&", " and ")
    words = [w for w in _NON_WORD.split(text.replace("_", " ")) if w]
    return " ".join(words)


def normalise_isbn(value: str) -> str:
    """ISBN-10/13 with separators removed and an upper-case check letter, or "" when it is not one."""
    text = re.sub(r"[\s\-]", "", str(value)).upper()
    if re.fullmatch(r"\d{13}", text) or re.fullmatch(r"\d{9}[\dX]", text):
        return text
    return ""
