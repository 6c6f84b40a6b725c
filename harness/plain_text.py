"""User data on the terminal: always plain text, never rich markup or raw control sequences.

Titles, categories, paths and skip examples come from files a user did not necessarily write. Printed
through rich as markup, `[/]` raises MarkupError and `[link=...]` becomes a clickable link; printed raw,
an ESC sequence drives the terminal. `plain()` makes a rich Text of the string with control characters
shown as escapes; `strip_control()` does the same for plain print().
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

# C0 controls except tab, DEL, and C1 controls (U+0080..U+009F, which include CSI); also bidi overrides
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_control(value: object) -> str:
    """`value` as a string with every control character replaced by its visible escape (ESC -> \\x1b)."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(value))


def plain(value: object, style: str = "") -> Text:
    """A rich Text of `value` (no markup parsed), control characters escaped."""
    from rich.text import Text

    return Text(strip_control(value), style=style)


# the same for a page: line breaks and tabs kept; lone surrogates (unencodable as UTF-8) shown as escapes too
_PAGE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def visible_page(text: str) -> str:
    """A page's text with control, bidi-override and lone-surrogate characters shown as visible escapes:
    no reversed text (U+202E), no raw ESC or BEL, and always encodable as UTF-8."""
    return _PAGE_CONTROL.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"), text)
