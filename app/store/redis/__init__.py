"""The Redis Streams store (``LINEWATCH_STORE=redis``): several web processes and hosts serve one
stream per line, and one ingest worker (``python -m app.ingest``) records it.

- ``keys``: the layout of everything LineWatch keeps in Redis.
- ``link``: the connection and its failure handling (every call turns an outage into
  :class:`~app.store.StoreUnavailable`), and the Lua scripts it runs.
- ``stream``: ``RedisStore``, a :class:`~app.store.Store` over one line's stream, and
  ``RedisLineStores``, one per line.
- ``write_behind``: the ingest worker's buffer in front of the streams (an append never fails).
- ``control``: what the ingest worker and the web processes tell each other (ready flag,
  recorded progress, alerts, heartbeat, refused points, gaps).

Nothing here connects or starts a thread at import.
"""
