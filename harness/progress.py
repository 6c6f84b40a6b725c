"""Progress bars for long work: rich on a terminal, silent in CI logs and pipes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Protocol


class Advance(Protocol):
    def __call__(self, n: int = 1, **fields: object) -> None: ...


def interactive() -> bool:
    """True when a human is watching: stderr is a TTY and we are not in CI."""
    if os.environ.get("CI") or os.environ.get("BOOKCLIP_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Advance]:
    """Context manager yielding `advance(n, **fields)`; a no-op when not interactive."""
    if not interactive():
        yield lambda n=1, **fields: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields: object) -> None:
            if fields:
                bar.update(task, advance=n, info="  ".join(f"{k}={v}" for k, v in fields.items()))
            else:  # the last info stays
                bar.update(task, advance=n)

        yield advance
