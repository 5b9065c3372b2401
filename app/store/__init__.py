"""Point stores: thread-safe buffers that give each point an increasing sequence id.

``MemoryStore`` (one process) and ``app.store.redis.RedisStore`` (Redis Streams, shared by
processes and hosts; imported only when configured) have the same interface.
"""


class StoreUnavailable(RuntimeError):
    """The store cannot be read or written right now (Redis unreachable, or being refilled).

    The message is one short line for the page and the API; no stack trace is needed.
    """


from app.store.lines import LineStores  # noqa: E402  (StoreUnavailable first: the stores import it)
from app.store.memory import MemoryStore, StoreStats  # noqa: E402

__all__ = ["LineStores", "MemoryStore", "StoreStats", "StoreUnavailable"]
