"""Edition groups: rows that share a normalised title or an ISBN are one book, across categories too."""

from __future__ import annotations

from collections.abc import Sequence

from harness.io import sha256_hex


def group_ids(title_keys: Sequence[str], isbns: Sequence[str]) -> list[str]:
    """A group id per row; rows joined (transitively) by an equal title key or non-empty ISBN share one.

    The id hashes the group's smallest title key, so it does not depend on row order.
    """
    parent = list(range(len(title_keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first_by_key: dict[tuple[str, str], int] = {}
    for i, (key, isbn) in enumerate(zip(title_keys, isbns, strict=True)):
        for token in (("title", key), ("isbn", isbn)):
            if not token[1]:
                continue
            j = first_by_key.setdefault(token, i)
            if j != i:
                union(i, j)
    smallest: dict[int, str] = {}
    for i, key in enumerate(title_keys):
        root = find(i)
        smallest[root] = min(smallest.get(root, key), key)
    return ["g" + sha256_hex(smallest[find(i)])[:15] for i in range(len(title_keys))]
