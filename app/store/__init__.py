"""Point stores: thread-safe buffers that give each point an increasing sequence id."""

from app.store.lines import LineStores
from app.store.memory import MemoryStore, StoreStats

__all__ = ["LineStores", "MemoryStore", "StoreStats"]
