"""Distinct viewers for /metrics: browsers that ticked in the last ``WINDOW_S`` seconds.

A browser is its key (client address + User-Agent, README "Metrics"), kept only as a short
hash.  ``Viewers`` counts those one process saw; ``RedisViewers`` (LINEWATCH_STORE=redis)
counts those every web process saw, in one sorted set scored by last-seen time, so any
process scraped gives the same figure.
"""

from __future__ import annotations

import hashlib
import threading

from app.store import StoreUnavailable

WINDOW_S = 30.0
MAX_TRACKED = 100_000  # in one process, beyond this the stale ones are dropped at once
REDIS_KEY = "linewatch:viewers"  # sorted set: key hash -> last tick time (epoch s)


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(errors="replace"), digest_size=8).digest()  # keep no raw addresses


class Viewers:
    """Last tick time per browser, in this process."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self.seen: dict[bytes, float] = {}
        self.lock = threading.Lock()

    def saw(self, key: str, now: float) -> None:
        digest = _digest(key)
        with self.lock:
            self.seen[digest] = now
            if len(self.seen) > MAX_TRACKED:
                self._prune(now)

    def count(self, now: float) -> int:
        with self.lock:
            self._prune(now)
            return len(self.seen)

    def _prune(self, now: float) -> None:
        cutoff = now - self.window_s
        for key in [k for k, t in self.seen.items() if t < cutoff]:
            del self.seen[key]


class RedisViewers:
    """Last tick time per browser, in Redis for every web process; trimmed to the window as it is written.

    While Redis is away a tick is not counted and ``count`` is None (the store gauges say why).
    """

    def __init__(self, link, window_s: float = WINDOW_S) -> None:
        self.link = link
        self.window_s = window_s

    def saw(self, key: str, now: float) -> None:
        try:
            self.link.call(lambda: self.link.client.pipeline(transaction=False)
                           .zadd(REDIS_KEY, {_digest(key): now})
                           .zremrangebyscore(REDIS_KEY, "-inf", f"({now - self.window_s!r}")
                           .expire(REDIS_KEY, int(self.window_s) + 1).execute())
        except StoreUnavailable:
            pass

    def count(self, now: float) -> int | None:
        try:
            return int(self.link.call(self.link.client.zcount, REDIS_KEY, now - self.window_s, "+inf"))
        except StoreUnavailable:
            return None
