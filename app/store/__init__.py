"""Point stores: thread-safe buffers that give each point an increasing sequence id.

Every store satisfies :class:`Store` (app/store/protocol.py): ``MemoryStore`` for one
process, and ``app.store.redis.stream.RedisStore`` (Redis Streams, shared by processes and
hosts; imported only when configured).
"""

from app.store.lines import LineStores
from app.store.memory import MemoryStore
from app.store.protocol import Store, StoreStats, StoreUnavailable

__all__ = ["LineStores", "MemoryStore", "Store", "StoreStats", "StoreUnavailable"]
