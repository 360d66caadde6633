"""The sqlite-utils store and its migrations."""

from rosetta_core.store.schema import CORE_SET, core_migrations
from rosetta_core.store.store import Store

__all__ = ["CORE_SET", "Store", "core_migrations"]
