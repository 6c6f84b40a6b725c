"""Registry[T]: named entries of one kind (metrics, probe families, launchers, fine-tune methods, model-spec
schemes, HTML report sections), all in one shape.

An entry is the object itself or a lazy reference "package.module:attribute", imported on first use, so
listing names imports nothing (the Spark launchers stay unimported until one runs). Other packages add entries
through entry-point groups (`[project.entry-points."bookclip.metrics"]` in their pyproject.toml): each entry
point is a lazy reference under its name, read the first time the registry is consulted. An unknown name is
a one-line error that lists the known ones and suggests the closest.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from harness.errors import BookclipError, ConfigError

T = TypeVar("T")


def load_reference(reference: str) -> object:
    """The object a "package.module:attribute.path" reference names (ImportError/AttributeError if none)."""
    module_name, _, attribute = reference.partition(":")
    value: object = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


def is_reference(value: object) -> bool:
    """True for a string of the lazy-entry form "package.module:attribute"."""
    return isinstance(value, str) and value.count(":") == 1 and all(value.partition(":")[::2])


class Registry(Generic[T]):
    """Entries of one kind by name, in registration order.

    `what` names the kind in messages ("metric", "launcher"). `check` turns a loaded object into a T or
    raises (one line) when it is not one; `groups` are the entry-point groups other packages add entries
    through; `error` is the exception an unknown name raises.
    """

    def __init__(
        self,
        what: str,
        *,
        check: Callable[[object], T] | None = None,
        groups: Iterable[str] = (),
        error: type[BookclipError] = ConfigError,
        entries: Mapping[str, T | str] | None = None,
    ) -> None:
        self.what = what
        self.groups = tuple(groups)
        self._check = check
        self._error = error
        self._entries: dict[str, T | str] = {}
        self._listeners: list[Callable[[], object]] = []
        self._entry_points_read = not self.groups
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    # -- writing ---------------------------------------------------------------------------
    def register(self, name: str, entry: T | str, *, replace: bool = False) -> T | str:
        """Add `entry` (an object or a "module:attribute" reference) under `name`; a taken name is an error
        unless `replace`, or unless the entry is the one registered there already. Registering reads no
        entry points (a package's built-in entries come first; entry points join on the first read)."""
        existing = self._entries.get(name)
        # the same entry again is no conflict, nor is the object a lazy entry's import registers itself
        same = existing is entry or existing == entry or (is_reference(existing) and not isinstance(entry, str))
        if existing is not None and not same and not replace:
            raise ConfigError(f"{self.what} {name!r} is registered already; choose another name")
        self._entries[name] = entry
        self._changed()
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """`@registry.decorator("name")` registers what it decorates under `name`."""

        def decorate(entry: T) -> T:
            self.register(name, entry)
            return entry

        return decorate

    def unregister(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._changed()

    def on_change(self, listener: Callable[[], object]) -> None:
        """Call `listener` whenever an entry is added or removed (caches derived from the entries)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The registered names, in registration order (nothing is imported)."""
        self._read_entry_points()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._read_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        """The entry under `name` (a lazy one is imported now); a one-line error for an unknown name."""
        self._read_entry_points()
        if name not in self._entries:
            raise self._error(self.unknown(name))
        entry = self._entries[name]
        if isinstance(entry, str) and is_reference(entry):
            loaded = self._load(name, entry)
            self._entries[name] = loaded
            return loaded
        return self._checked(name, entry)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def items(self) -> list[tuple[str, T]]:
        """Every (name, entry) pair, lazy entries imported."""
        return [(name, self.get(name)) for name in self.names()]

    def values(self) -> list[T]:
        return [entry for _, entry in self.items()]

    def unknown(self, name: str) -> str:
        """The one-line message for an unknown name: the closest names, then every known one."""
        known = ", ".join(self._entries) or "none"
        return f"unknown {self.what} {name!r}; {self.suggest(name)}known: {known}"

    def suggest(self, name: str) -> str:
        """ "did you mean 'x'? " for the registered name closest to `name`, or "" when none is close."""
        close = difflib.get_close_matches(str(name), list(self._entries), n=1)
        return f"did you mean {close[0]!r}? " if close else ""

    # -- loading ---------------------------------------------------------------------------
    def _checked(self, name: str, value: object) -> T:
        if self._check is None:
            return value  # type: ignore[return-value]  # an unchecked registry holds what it was given
        return self._check(value)

    def _load(self, name: str, reference: str) -> T:
        try:
            value = load_reference(reference)
        except Exception as exc:  # a broken plugin must name itself, not crash with a traceback
            raise ConfigError(
                f"{self.what} entry point {name!r} ({reference}) failed to load: {type(exc).__name__}: {exc}; "
                "fix or uninstall the package that declares it"
            ) from exc
        try:
            return self._checked(name, value)
        except BookclipError as exc:
            raise ConfigError(f"{self.what} {name!r} ({reference}): {exc}") from None

    def _read_entry_points(self) -> None:
        if not self._entry_points_read:
            self._entry_points_read = True
            self.load_entry_points()

    def load_entry_points(self) -> list[str]:
        """Register the entry points installed packages declare under this registry's groups (as lazy
        references, imported when first used); returns their names. Safe to call again."""
        from importlib.metadata import entry_points

        self._entry_points_read = True
        added: list[str] = []
        for group in self.groups:
            for ep in entry_points(group=group):
                if self._entries.get(ep.name) != ep.value:
                    try:
                        self.register(ep.name, ep.value)
                    except ConfigError as exc:
                        raise ConfigError(
                            f"{self.what} entry point {ep.name!r} ({ep.value}) in {group}: {exc}"
                        ) from None
                added.append(ep.name)
        return added
