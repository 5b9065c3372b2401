"""One stream per production line: a store per line id, created on first use."""

from __future__ import annotations

import threading
from typing import Callable

from app.store.memory import MemoryStore


class LineStores:
    """Maps a line id to its own store (own sequence ids), so lines never mix."""

    def __init__(self, capacity: int, factory: Callable[[int], MemoryStore] = MemoryStore) -> None:
        self.capacity = capacity
        self._factory = factory
        self._stores: dict[str, MemoryStore] = {}
        self._lock = threading.Lock()

    def get(self, line: str) -> MemoryStore:
        store = self._stores.get(line)
        if store is None:
            with self._lock:
                store = self._stores.setdefault(line, self._factory(self.capacity))
        return store

    def find(self, line: str) -> MemoryStore | None:
        """The line's store if it has one (reading never creates a line)."""
        return self._stores.get(line)

    def items(self) -> list[tuple[str, MemoryStore]]:
        with self._lock:
            return sorted(self._stores.items())
