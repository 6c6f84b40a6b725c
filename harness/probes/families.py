"""Title perturbation families: named, pure, seeded functions title -> title.

Each family is a `Family`: a function `(title, rng, context) -> title` plus its severity, the
bounds of the length change it may cause, and a predicate saying when it may return the title
unchanged (e.g. "dropped letter" on a title with no letters). `Family.apply(title, seed=...)`
seeds a private `random.Random` from (family, seed, title), so a perturbation never depends
on which other titles were perturbed before it, or in what order.

Families are collected in a `FamilyRegistry`. The built-in ones and any registered with
`@register_family` live in the process-wide default registry; packages can add their own
through the entry-point group `bookclip.probe_families` (or its earlier name `bookclip.probes`): an
entry point names a `Family` (a function decorated with `@register_family`), a list of them, or a
module holding them.
"""

from __future__ import annotations

import enum
import random
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.io import sha256_hex
from harness.registry import Registry

ENTRY_POINT_GROUP = "bookclip.probe_families"
LEGACY_ENTRY_POINT_GROUP = "bookclip.probes"  # the group's earlier name, still read
ENTRY_POINT_GROUPS = (ENTRY_POINT_GROUP, LEGACY_ENTRY_POINT_GROUP)
DEFAULT_CONTEXT_LENGTH = 77  # CLIP's text context, in tokens (start and end tokens included)


class Severity(enum.IntEnum):
    """How far a perturbation moves a title, as a human reader would judge it."""

    COSMETIC = 1  # a reader sees the same title (case, spacing, look-alike glyphs)
    TYPO = 2  # a misspelling a reader corrects without thinking
    REPHRASE = 3  # the same book named differently (article moved, "&" for "and", subtitle)
    DESTRUCTIVE = 4  # information removed or scrambled (word dropped, words shuffled)


@dataclass(frozen=True)
class TitleContext:
    """What a family may know about the book besides its title."""

    author: str = ""
    category: str = ""
    context_length: int = DEFAULT_CONTEXT_LENGTH


PerturbFn = Callable[[str, random.Random, TitleContext], str]
Bound = int | Callable[[str, TitleContext], int]


def _resolve(bound: Bound, title: str, context: TitleContext) -> int:
    return bound(title, context) if callable(bound) else bound


@dataclass(frozen=True)
class Family:
    """A perturbation family: a pure function of (title, rng, context) with documented bounds.

    `grows`/`shrinks` bound the change in length (characters) of the result:
    len(title) - shrinks <= len(result) <= len(title) + grows. `may_be_unchanged(title, ctx)`
    is true for every title the family may return unchanged; for all others it always changes it.
    """

    name: str
    fn: PerturbFn = field(repr=False, compare=False)
    severity: Severity
    description: str
    grows: Bound = field(default=0, repr=False, compare=False)
    shrinks: Bound = field(default=0, repr=False, compare=False)
    unchanged_when: Callable[[str, TitleContext], bool] = field(
        default=lambda title, context: False, repr=False, compare=False
    )
    unchanged_doc: str = "never"

    def apply(self, title: str, seed: int = 0, context: TitleContext | None = None) -> str:
        """The perturbed title: the same for the same (family, seed, title, context)."""
        context = context or TitleContext()
        digest = sha256_hex(self.name, str(seed), title, context.author, context.category)
        return self.fn(title, random.Random(int(digest[:16], 16)), context)

    __call__ = apply

    def length_bounds(self, title: str, context: TitleContext | None = None) -> tuple[int, int]:
        """(shortest, longest) length the result may have for this title."""
        context = context or TitleContext()
        lo = max(0, len(title) - _resolve(self.shrinks, title, context))
        return lo, len(title) + _resolve(self.grows, title, context)

    def may_be_unchanged(self, title: str, context: TitleContext | None = None) -> bool:
        return bool(self.unchanged_when(title, context or TitleContext()))


class FamilyRegistry(Registry[Family]):
    """Families by name (a `harness.registry.Registry`). Names are unique: registering a different family
    under a taken name fails. Entry points are read only when asked (`load_entry_points`), so a registry
    of the built-in families stays just that."""

    def __init__(self, families: Iterable[Family] = ()) -> None:
        super().__init__("probe family", check=_as_family, groups=ENTRY_POINT_GROUPS)
        for family in families:
            self.add(family)

    def add(self, family: Family) -> Family:
        family = _as_family(family)
        existing = self._entries.get(family.name)
        if isinstance(existing, Family) and existing.fn is not family.fn:
            raise ConfigError(
                f"probe family {family.name!r} is already registered; choose another name for the new family"
            )
        self.register(family.name, family, replace=True)
        return family

    def select(self, names: Iterable[str] | None = None) -> list[Family]:
        """The named families (all of them, in registration order, when names is None)."""
        if names is None:
            return self.values()
        return [self.get(name) for name in names]

    def copy(self) -> FamilyRegistry:
        return FamilyRegistry(self.values())

    def _read_entry_points(self) -> None:
        """Entry points are added by `load_entry_points` only (see `families`)."""

    def load_entry_points(self, group: str | None = None) -> list[str]:
        """Add the families that installed packages declare under the entry-point groups (or `group`);
        returns their names. An entry point may name a Family, a list of them or a module holding them."""
        from importlib.metadata import entry_points

        added: list[str] = []
        for name in (group,) if group else self.groups:
            for ep in entry_points(group=name):
                try:
                    value = ep.load()
                except Exception as exc:  # a broken plugin must name itself, not crash with a traceback
                    raise ConfigError(
                        f"probe family entry point {ep.name!r} ({ep.value}) failed to load: "
                        f"{type(exc).__name__}: {exc}; fix or uninstall that package"
                    ) from exc
                for family in _families_in(value):
                    added.append(self.add(family).name)
        return added


def _as_family(value: object) -> Family:
    if not isinstance(value, Family):
        raise ConfigError(
            f"probe family registry: {value!r} is not a Family; "
            "decorate the function with @register_family(name, severity=...)"
        )
    return value


def _families_in(value: object) -> list[Family]:
    """Families an entry point refers to: a Family, an iterable of them, or a module holding them."""
    import types

    if isinstance(value, Family):
        return [value]
    if isinstance(value, types.ModuleType):
        return [v for v in vars(value).values() if isinstance(v, Family)]
    if isinstance(value, (list, tuple)):
        found = [v for v in value if isinstance(v, Family)]
        if len(found) == len(value):
            return found
    raise ConfigError(
        f"probe family entry point value {value!r} is not a Family, a list of "
        "Families or a module; point it at a function decorated with @register_family"
    )


_DEFAULT_REGISTRY = FamilyRegistry()  # the one process-wide registry the decorator fills


def default_registry() -> FamilyRegistry:
    """The registry holding the built-in families and those registered with `@register_family`."""
    return _DEFAULT_REGISTRY


def register_family(
    name: str,
    *,
    severity: Severity,
    grows: Bound = 0,
    shrinks: Bound = 0,
    unchanged_when: Callable[[str, TitleContext], bool] | None = None,
    unchanged_doc: str = "never",
    description: str | None = None,
    registry: FamilyRegistry | None = None,
) -> Callable[[PerturbFn], Family]:
    """Decorator turning `fn(title, rng, context) -> title` into a registered `Family`.

    `grows`/`shrinks` (ints or functions of (title, context)) bound the length change;
    `unchanged_when(title, context)` must be true for every title `fn` may return unchanged.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", name):
        raise ConfigError(
            f"probe family name {name!r} must be lowercase letters, digits, '_' or '-'; "
            "it becomes a JSON key probes/<family>/<metric>"
        )

    def decorate(fn: PerturbFn) -> Family:
        doc = description or " ".join((fn.__doc__ or name).split())
        family = Family(
            name=name,
            fn=fn,
            severity=Severity(severity),
            description=doc,
            grows=grows,
            shrinks=shrinks,
            unchanged_when=unchanged_when or (lambda title, context: False),
            unchanged_doc=unchanged_doc,
        )
        return (registry if registry is not None else _DEFAULT_REGISTRY).add(family)

    return decorate


def families(names: Iterable[str] | None = None, *, entry_points: bool = True) -> list[Family]:
    """The built-in families, those registered with the decorator, and (by default) entry points."""
    registry = _DEFAULT_REGISTRY.copy()
    if entry_points:
        registry.load_entry_points()
    return registry.select(names)


# --- shared pieces ---------------------------------------------------------------------------


def _letter_positions(title: str) -> list[int]:
    return [i for i, ch in enumerate(title) if ch.isalpha()]


def _words(title: str) -> list[str]:
    return title.split()


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


# --- typos -----------------------------------------------------------------------------------


@register_family(
    "repeated_letters",
    severity=Severity.TYPO,
    grows=3,
    unchanged_when=lambda t, c: not _letter_positions(t),
    unchanged_doc="the title has no letters",
)
def repeated_letters(title: str, rng: random.Random, context: TitleContext) -> str:
    """A letter typed two to four times ("Now" -> "Nowww"); word-final letters are preferred."""
    positions = _letter_positions(title)
    if not positions:
        return title
    finals = [i for i in positions if i + 1 == len(title) or not title[i + 1].isalpha()]
    i = rng.choice(finals if finals and rng.random() < 0.7 else positions)
    return title[: i + 1] + title[i] * rng.randint(1, 3) + title[i + 1 :]


@register_family(
    "dropped_letter",
    severity=Severity.TYPO,
    shrinks=1,
    unchanged_when=lambda t, c: not _letter_positions(t),
    unchanged_doc="the title has no letters",
)
def dropped_letter(title: str, rng: random.Random, context: TitleContext) -> str:
    """One letter left out ("Power" -> "Powr")."""
    positions = _letter_positions(title)
    if not positions:
        return title
    i = rng.choice(positions)
    return title[:i] + title[i + 1 :]


def _swappable(title: str) -> list[int]:
    return [
        i for i in range(len(title) - 1) if title[i].isalpha() and title[i + 1].isalpha() and title[i] != title[i + 1]
    ]


@register_family(
    "adjacent_swap",
    severity=Severity.TYPO,
    unchanged_when=lambda t, c: not _swappable(t),
    unchanged_doc="no two adjacent letters differ",
)
def adjacent_swap(title: str, rng: random.Random, context: TitleContext) -> str:
    """Two neighbouring, different letters swapped ("Power" -> "Pwoer")."""
    candidates = _swappable(title)
    if not candidates:
        return title
    i = rng.choice(candidates)
    return title[:i] + title[i + 1] + title[i] + title[i + 2 :]


_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    grid = {ch: (r, c) for r, row in enumerate(_QWERTY_ROWS) for c, ch in enumerate(row)}
    return {
        ch: "".join(other for other, (r2, c2) in grid.items() if other != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
        for ch, (r, c) in grid.items()
    }


_KEYBOARD_NEIGHBOURS = _keyboard_neighbours()


def _typable(title: str) -> list[int]:
    return [i for i, ch in enumerate(title) if ch.lower() in _KEYBOARD_NEIGHBOURS]


@register_family(
    "keyboard_typo",
    severity=Severity.TYPO,
    unchanged_when=lambda t, c: not _typable(t),
    unchanged_doc="the title has no ASCII letter",
)
def keyboard_typo(title: str, rng: random.Random, context: TitleContext) -> str:
    """One ASCII letter replaced by a QWERTY neighbour, keeping its case ("Now" -> "Niw")."""
    candidates = _typable(title)
    if not candidates:
        return title
    i = rng.choice(candidates)
    new = rng.choice(_KEYBOARD_NEIGHBOURS[title[i].lower()])
    return title[:i] + (new.upper() if title[i].isupper() else new) + title[i + 1 :]


# what an OCR engine reads instead; each pair in both directions
_OCR_PAIRS = (
    ("rn", "m"),
    ("m", "rn"),
    ("cl", "d"),
    ("vv", "w"),
    ("l", "1"),
    ("1", "l"),
    ("I", "l"),
    ("l", "I"),
    ("O", "0"),
    ("0", "O"),
    ("o", "0"),
    ("S", "5"),
    ("5", "S"),
    ("B", "8"),
    ("e", "c"),
)


def _ocr_sites(title: str) -> list[tuple[int, str, str]]:
    return [(m.start(), src, dst) for src, dst in _OCR_PAIRS for m in re.finditer(re.escape(src), title)]


@register_family(
    "ocr_confusion",
    severity=Severity.TYPO,
    grows=1,
    shrinks=1,
    unchanged_when=lambda t, c: not _ocr_sites(t),
    unchanged_doc="the title holds none of rn m cl vv l 1 I O 0 o S 5 B e",
)
def ocr_confusion(title: str, rng: random.Random, context: TitleContext) -> str:
    """One OCR misreading: rn<->m, cl->d, vv->w, l<->1, I->l, O<->0, S<->5, B->8, e->c."""
    sites = _ocr_sites(title)
    if not sites:
        return title
    i, src, dst = rng.choice(sorted(sites))
    return title[:i] + dst + title[i + len(src) :]


# --- cosmetic ----------------------------------------------------------------------------------

# Latin letters and their Cyrillic look-alikes
_HOMOGLYPHS = {
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "j": "\u0458",
    "o": "\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "x": "\u0445",
    "y": "\u0443",
    "A": "\u0410",
    "B": "\u0412",
    "C": "\u0421",
    "E": "\u0415",
    "H": "\u041d",
    "I": "\u0406",
    "J": "\u0408",
    "K": "\u041a",
    "M": "\u041c",
    "O": "\u041e",
    "P": "\u0420",
    "S": "\u0405",
    "T": "\u0422",
    "X": "\u0425",
    "Y": "\u04ae",
}


@register_family(
    "homoglyph",
    severity=Severity.COSMETIC,
    unchanged_when=lambda t, c: not any(ch in _HOMOGLYPHS for ch in t),
    unchanged_doc="the title has no Latin letter with a Cyrillic look-alike",
)
def homoglyph(title: str, rng: random.Random, context: TitleContext) -> str:
    """Latin letters swapped for Cyrillic look-alikes (each with probability 1/2, at least one)."""
    sites = [i for i, ch in enumerate(title) if ch in _HOMOGLYPHS]
    if not sites:
        return title
    chosen = {i for i in sites if rng.random() < 0.5} or {rng.choice(sites)}
    return "".join(_HOMOGLYPHS[ch] if i in chosen else ch for i, ch in enumerate(title))


def _same_length(ch: str, mapped: str) -> str:
    return mapped if len(mapped) == 1 else ch  # "ß".upper() == "SS": keep such letters as they are


def _case_variants(title: str) -> dict[str, str]:
    upper = "".join(_same_length(ch, ch.upper()) for ch in title)
    lower = "".join(_same_length(ch, ch.lower()) for ch in title)
    titled, start = [], True
    for ch in title:
        titled.append(_same_length(ch, ch.upper() if start else ch.lower()))
        start = ch.isspace() or ch in '-("\u201c'  # no capital after an apostrophe: "Don't"
    return {"upper": upper, "lower": lower, "title": "".join(titled)}


@register_family(
    "case",
    severity=Severity.COSMETIC,
    unchanged_when=lambda t, c: all(v == t for v in _case_variants(t).values()),
    unchanged_doc="upper, lower and title case all equal the title (no cased letters)",
)
def case(title: str, rng: random.Random, context: TitleContext) -> str:
    """The title in upper, lower or title case (one that differs from the original)."""
    options = sorted({v for v in _case_variants(title).values() if v != title})
    return rng.choice(options) if options else title


@register_family(
    "punctuation_stripped",
    severity=Severity.COSMETIC,
    shrinks=lambda t, c: sum(1 for ch in t if _is_punct(ch) or ch.isspace()),
    unchanged_when=lambda t, c: not any(_is_punct(ch) for ch in t),
    unchanged_doc="the title has no punctuation",
)
def punctuation_stripped(title: str, rng: random.Random, context: TitleContext) -> str:
    """All punctuation removed, with the spaces it leaves behind collapsed ("Now: A Guide" -> "Now A Guide")."""
    if not any(_is_punct(ch) for ch in title):
        return title
    stripped = "".join(ch for ch in title if not _is_punct(ch))
    return " ".join(stripped.split())


def _inner_spaces(title: str) -> list[int]:
    return [i for i, ch in enumerate(title) if ch == " "]


@register_family(
    "spacing",
    severity=Severity.COSMETIC,
    grows=lambda t, c: t.count(" "),
    shrinks=1,
    unchanged_when=lambda t, c: " " not in t,
    unchanged_doc="the title has no space",
)
def spacing(title: str, rng: random.Random, context: TitleContext) -> str:
    """Every space doubled, or one space removed ("The Power" -> "The  Power" / "ThePower")."""
    spaces = _inner_spaces(title)
    if not spaces:
        return title
    if rng.random() < 0.5:
        return title.replace(" ", "  ")
    i = rng.choice(spaces)
    return title[:i] + title[i + 1 :]


def _unicode_variants(title: str) -> dict[str, str]:
    nfd = unicodedata.normalize("NFD", title)
    stripped = unicodedata.normalize("NFC", "".join(ch for ch in nfd if not unicodedata.combining(ch)))
    return {"nfc": unicodedata.normalize("NFC", title), "nfd": nfd, "accents_stripped": stripped}


@register_family(
    "unicode_normalisation",
    severity=Severity.COSMETIC,
    grows=lambda t, c: 3 * len(t),
    shrinks=lambda t, c: len(t),
    unchanged_when=lambda t, c: all(v == t for v in _unicode_variants(t).values()),
    unchanged_doc="NFC, NFD and accent stripping all leave the title as it is (plain ASCII titles)",
)
def unicode_normalisation(title: str, rng: random.Random, context: TitleContext) -> str:
    """The title in NFC or NFD form, or with accents stripped ("Café" -> "Cafe").

    NFD may make a title up to four times as long (Unicode's bound); stripping may empty a
    title made only of combining marks.
    """
    options = sorted({v for v in _unicode_variants(title).values() if v != title})
    return rng.choice(options) if options else title


# --- rephrasing --------------------------------------------------------------------------------

_LEADING_ARTICLE = re.compile(r"^(the|an|a)\s+(?=\S)(.*\S)\s*$", re.IGNORECASE | re.DOTALL)
_TRAILING_ARTICLE = re.compile(r"^\s*(\S.*?),\s*(the|an|a)\s*[:;.]?\s*$", re.IGNORECASE | re.DOTALL)


def _article_move(title: str) -> str | None:
    m = _TRAILING_ARTICLE.match(title)
    if m:
        return f"{m.group(2)} {m.group(1)}"
    m = _LEADING_ARTICLE.match(title)
    if m:
        return f"{m.group(2)}, {m.group(1)}"
    return None


@register_family(
    "article_moved",
    severity=Severity.REPHRASE,
    grows=1,
    shrinks=lambda t, c: sum(1 for ch in t if ch.isspace() or _is_punct(ch)),
    unchanged_when=lambda t, c: _article_move(t) in (None, t),
    unchanged_doc="the title neither starts with The/A/An nor ends with ', The' (or A/An)",
)
def article_moved(title: str, rng: random.Random, context: TitleContext) -> str:
    """A leading article moved to the end and back ("The Power of Now" <-> "Power of Now, The")."""
    moved = _article_move(title)
    return title if moved is None else moved


_AND_WORD = re.compile(r"(?<![^\W_])[Aa][Nn][Dd](?![^\W_])")


def _and_sites(title: str) -> list[tuple[int, int, str]]:
    sites = [(m.start(), m.end(), "&") for m in _AND_WORD.finditer(title)]
    for i, ch in enumerate(title):
        if ch == "&":  # "Rock&Roll" -> "Rock and Roll": pad with spaces where there are none
            left = "" if i == 0 or title[i - 1].isspace() else " "
            right = "" if i + 1 == len(title) or title[i + 1].isspace() else " "
            sites.append((i, i + 1, f"{left}and{right}"))
    return sorted(sites)


@register_family(
    "ampersand_and",
    severity=Severity.REPHRASE,
    grows=4,
    shrinks=2,
    unchanged_when=lambda t, c: not _and_sites(t),
    unchanged_doc="the title has neither '&' nor the word 'and'",
)
def ampersand_and(title: str, rng: random.Random, context: TitleContext) -> str:
    """One '&' written as 'and', or one 'and' as '&' ("Pride and Prejudice" <-> "Pride & Prejudice")."""
    sites = _and_sites(title)
    if not sites:
        return title
    start, end, new = rng.choice(sites)
    return title[:start] + new + title[end:]


_NUMBER_WORDS = {
    0: "zero",
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    13: "thirteen",
    14: "fourteen",
    15: "fifteen",
    16: "sixteen",
    17: "seventeen",
    18: "eighteen",
    19: "nineteen",
    20: "twenty",
    30: "thirty",
    40: "forty",
    50: "fifty",
    60: "sixty",
    70: "seventy",
    80: "eighty",
    90: "ninety",
}
_WORD_NUMBERS = {w: n for n, w in _NUMBER_WORDS.items()}
_NUMERAL_SWING = max(abs(len(w) - len(str(n))) for n, w in _NUMBER_WORDS.items())
# whole numbers only: not part of a word, a decimal ("2.5") or a grouped number ("1,000")
_NUMERAL = re.compile(r"(?<![^\W_]|[.,])[0-9]+(?![^\W_]|[.,][0-9])")
_ASCII_WORD = re.compile(r"(?<![^\W_])[A-Za-z]+(?![^\W_])")


def _numeral_sites(title: str) -> list[tuple[int, int, str]]:
    sites = []
    for m in _NUMERAL.finditer(title):
        value = int(m.group())
        if value in _NUMBER_WORDS and m.group() == str(value):  # "07" stays as it is
            word = _NUMBER_WORDS[value]
            capital = not title[: m.start()].strip() or title[: m.start()].rstrip()[-1] in ":.!?"
            sites.append((m.start(), m.end(), word.capitalize() if capital else word))
    for m in _ASCII_WORD.finditer(title):
        number = _WORD_NUMBERS.get(m.group().lower())
        if number is not None:
            sites.append((m.start(), m.end(), str(number)))
    return sorted(sites)


@register_family(
    "numerals_words",
    severity=Severity.REPHRASE,
    grows=_NUMERAL_SWING,
    shrinks=_NUMERAL_SWING,
    unchanged_when=lambda t, c: not _numeral_sites(t),
    unchanged_doc="the title has no whole number 0-20 or tens to 90, as digits or as a word",
)
def numerals_words(title: str, rng: random.Random, context: TitleContext) -> str:
    """One number written the other way ("7 Habits" <-> "Seven Habits")."""
    sites = _numeral_sites(title)
    if not sites:
        return title
    start, end, new = rng.choice(sites)
    return title[:start] + new + title[end:]


_SUBTITLE_SPLIT = re.compile(r"\s*(?::|\s-\s|\s\u2013\s|\s\u2014\s|\()")
_SUBTITLES = (
    "A Novel",
    "A Memoir",
    "A Practical Guide",
    "The Complete Guide",
    "Revised Edition",
    "Collected Works",
    "An Introduction",
    "Selected Essays",
)
_MAX_SUBTITLE = 2 + max(len(s) for s in _SUBTITLES)


def _main_title(title: str) -> str | None:
    """The title without its subtitle, or None when there is no non-empty part to keep."""
    m = _SUBTITLE_SPLIT.search(title)
    if not m or not any(ch.isalnum() for ch in title[m.end() :]):  # "Gifts, The:" has no subtitle
        return None
    head = title[: m.start()].strip()
    return head or None


@register_family("subtitle", severity=Severity.REPHRASE, grows=_MAX_SUBTITLE, shrinks=lambda t, c: max(0, len(t) - 1))
def subtitle(title: str, rng: random.Random, context: TitleContext) -> str:
    """The subtitle removed when there is one ("Daring Greatly: How..." -> "Daring Greatly"), else one added."""
    head = _main_title(title)
    if head is not None:
        return head
    return f"{title}: {rng.choice(_SUBTITLES)}"


@register_family(
    "author_appended",
    severity=Severity.REPHRASE,
    grows=lambda t, c: 4 + len(c.author.strip()),
    unchanged_when=lambda t, c: not c.author.strip(),
    unchanged_doc="the book has no author",
)
def author_appended(title: str, rng: random.Random, context: TitleContext) -> str:
    """The author appended ("The Power of Now by Eckhart Tolle")."""
    author = " ".join(context.author.split())
    return f"{title} by {author}" if author else title


@register_family(
    "category_prefix",
    severity=Severity.REPHRASE,
    grows=lambda t, c: 2 + len(c.category.strip()),
    unchanged_when=lambda t, c: not c.category.strip(),
    unchanged_doc="the book has no category",
)
def category_prefix(title: str, rng: random.Random, context: TitleContext) -> str:
    """The category put in front ("Mind-Body-Spirit: The Power of Now")."""
    category = " ".join(context.category.split())
    return f"{category}: {title}" if category else title


_FILLER = (
    "a",
    "story",
    "of",
    "the",
    "life",
    "and",
    "times",
    "in",
    "new",
    "world",
    "with",
    "notes",
    "from",
    "an",
    "old",
    "edition",
    "for",
    "every",
    "reader",
)
_MAX_FILLER = 1 + max(len(w) for w in _FILLER)


@register_family("overlong", severity=Severity.REPHRASE, grows=lambda t, c: 3 + c.context_length * _MAX_FILLER)
def overlong(title: str, rng: random.Random, context: TitleContext) -> str:
    """The title followed by as many words as the text context holds, so the tokenizer must cut it.

    Each word is at least one token, so `context_length` words always overflow the context;
    the title itself stays at the front and survives the cut unless it fills the context alone.
    """
    tail = " ".join(rng.choice(_FILLER) for _ in range(context.context_length))
    return f"{title} - {tail}"


# --- destructive -------------------------------------------------------------------------------


@register_family(
    "word_dropped",
    severity=Severity.DESTRUCTIVE,
    shrinks=lambda t, c: max(0, len(t) - 1),
    unchanged_when=lambda t, c: len(_words(t)) < 2,
    unchanged_doc="the title has fewer than two words",
)
def word_dropped(title: str, rng: random.Random, context: TitleContext) -> str:
    """One word left out ("The Power of Now" -> "The Power Now")."""
    words = _words(title)
    if len(words) < 2:
        return title
    del words[rng.randrange(len(words))]
    return " ".join(words)


@register_family(
    "word_order_shuffled",
    severity=Severity.DESTRUCTIVE,
    shrinks=lambda t, c: sum(1 for ch in t if ch.isspace()),
    unchanged_when=lambda t, c: len(set(_words(t))) < 2 and " ".join(_words(t)) == t,
    unchanged_doc="the title has fewer than two distinct words and single spaces",
)
def word_order_shuffled(title: str, rng: random.Random, context: TitleContext) -> str:
    """The words in another order ("The Power of Now" -> "Now Power The of")."""
    words = _words(title)
    shuffled = words[:]
    rng.shuffle(shuffled)
    if shuffled == words and len(set(words)) > 1:
        shuffled = words[1:] + words[:1]  # a rotation of a non-constant list always differs
    return " ".join(shuffled)
