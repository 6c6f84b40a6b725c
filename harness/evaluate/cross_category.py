"""Cross-category evaluation: how a checkpoint does on each category it was not trained on.

Each category of the `cross` view becomes its own view `cross:<Category>` (candidates are that
category's items), so a fine-tune that helps its own category but hurts another shows up by name.
"""

from __future__ import annotations

from typing import Any

CROSS_PREFIX = "cross:"


def per_category_views(cross: Any) -> dict[str, Any]:
    """`cross:<Category>` -> the rows of that category in the cross view."""
    return {f"{CROSS_PREFIX}{c}": cross.by_category([c]) for c in cross.categories}
