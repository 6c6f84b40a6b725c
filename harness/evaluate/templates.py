"""Caption templates: how a catalogue row becomes the text a model embeds.

A template is a format string over the placeholders {title}, {author} and {category}, or the
name of a built-in one. Categories are written readably ("Mind-Body-Spirit" -> "Mind Body Spirit").
"""

from __future__ import annotations

import string
from collections.abc import Mapping

import pandas as pd

from harness.errors import ConfigError

PLACEHOLDERS = ("title", "author", "category")
BUILTIN_TEMPLATES: Mapping[str, str] = {
    "title": "{title}",
    "title-by-author": "{title} by {author}",
    "category-title": "a {category} book titled {title}",
}
DEFAULT_TEMPLATE = "{title}"
# Zero-shot category prompts: one per category, compared against every cover.
DEFAULT_CATEGORY_PROMPT = "a book about {category}"


def resolve_template(template: str, *, allowed: tuple[str, ...] = PLACEHOLDERS) -> str:
    """The format string for `template` (a built-in name or a format string), checked at once."""
    text = BUILTIN_TEMPLATES.get(template, template)
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError as exc:
        raise ConfigError(
            f"caption template {template!r} is malformed ({exc}); "
            "write e.g. '{{title}} by {{author}}' with matched braces"
        ) from exc
    if not fields:
        raise ConfigError(
            f"caption template {template!r} uses no placeholder; include {{title}} "
            f"(allowed: {', '.join('{' + p + '}' for p in allowed)})"
        )
    unknown = sorted({f for f in fields if f not in allowed})
    if unknown:
        raise ConfigError(
            f"caption template {template!r} has unknown placeholder(s) "
            f"{', '.join('{' + u + '}' for u in unknown)}; "
            f"allowed: {', '.join('{' + p + '}' for p in allowed)}"
        )
    return text


def readable_category(category: str) -> str:
    return " ".join(category.replace("-", " ").split())


def render_captions(template: str, frame: pd.DataFrame) -> list[str]:
    """One caption per catalogue row; an empty author leaves no dangling spaces."""
    text = resolve_template(template)
    titles = frame["title"].astype(str).tolist()
    authors = frame["author"].fillna("").astype(str).tolist()
    categories = [readable_category(c) for c in frame["category"].astype(str)]
    return [
        " ".join(text.format(title=t, author=a, category=c).split())
        for t, a, c in zip(titles, authors, categories, strict=True)
    ]


def render_category_prompts(prompt: str, categories: tuple[str, ...] | list[str]) -> list[str]:
    """One prompt per category for zero-shot classification."""
    text = resolve_template(prompt, allowed=("category",))
    return [text.format(category=readable_category(c)) for c in categories]
