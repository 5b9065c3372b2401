"""Point stores: thread-safe buffers that give each point an increasing sequence id."""

from app.store.memory import MemoryStore, StoreStats

__all__ = ["MemoryStore", "StoreStats"]
