"""Named registries of plugin-provided objects (engines, workload managers, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from rosetta_core.errors import DuplicateNameError, PluginError, UnknownNameError
from rosetta_core.validators import NAME_RE

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects by name, remembering which plugin registered each.

    Registering a name twice raises :class:`DuplicateNameError` naming both plugins.
    """

    def __init__(self, kind: str, reserved: frozenset[str] = frozenset()) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self._reserved = reserved

    def register(self, name: str, item: T, plugin: str) -> None:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} with an invalid name {name!r}")
        if name in self._reserved:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} named {name!r}, which is reserved")
        if name in self._items:
            raise DuplicateNameError(self.kind, name, self._owners[name], plugin)
        self._items[name] = item
        self._owners[name] = plugin

    def get(self, name: str) -> T:
        """The object called ``name``; raises :class:`UnknownNameError` listing the known names."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._items)) from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def by_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, p in self._owners.items() if p == plugin)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
