"""The connection to Redis and what happens when Redis cannot serve.

Every Redis call goes through ``RedisLink.call``, which turns connection errors, timeouts
and the "not refilled yet" state into :class:`StoreUnavailable` (one short line), logs once
when an outage starts and once when it ends, and, while Redis does not answer, fails fast
for ``RETRY_S`` between probes so requests do not pile up on timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from app.store.protocol import StoreUnavailable

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_S = 1.5  # a frozen Redis costs a request at most this long, once per RETRY_S per process
CONNECT_TIMEOUT_S = 1.0
RETRY_S = 1.0  # while Redis does not answer, calls fail at once except one probe per RETRY_S
NOT_READY = "NOTREADY"  # how a script's error reply says the store is not refilled yet


def describe_url(url: str) -> str:
    """Where Redis is, for messages: host:port/db or the socket path, never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path if parts.path not in ('', '/') else '/0'}"


class RedisLink:
    """A Redis client with a failure state, a probe interval and the Lua scripts it runs.

    ``call(fn, ...)`` runs one Redis operation; any way Redis cannot serve becomes
    :class:`StoreUnavailable`.  The first failure logs a warning, the first success after
    it logs the outage's length; nothing in between.
    """

    def __init__(self, client: redis.Redis, where: str) -> None:
        self.client = client
        self.where = where
        self._scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self._unreachable = False
        self._probe_at = 0.0

    @classmethod
    def from_url(cls, url: str, name: str = "linewatch") -> "RedisLink":
        """A link that connects on first use (so it can be made before a fork)."""
        client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                      retry=Retry(NoBackoff(), 0), health_check_interval=0, client_name=name)
        return cls(client, describe_url(url))

    @property
    def available(self) -> bool:
        """False from a failure until the next successful call."""
        return self._down_since is None

    @property
    def reason(self) -> str:
        return self._reason

    def script(self, source: str) -> Script:
        """The Lua script ``source``, registered once (loaded into Redis on its first run)."""
        script = self._scripts.get(source)
        if script is None:
            with self._lock:
                script = self._scripts.setdefault(source, self.client.register_script(source))
        return script

    def call(self, fn: Callable, *args, **kwargs):
        """Run ``fn(*args, **kwargs)``; an outage ends with a call that also checked the store is filled."""
        return self._call(False, fn, args, kwargs)

    def call_ready(self, fn: Callable, *args, **kwargs):
        """``call`` for the store's scripts, which answer NOTREADY until the store is filled."""
        return self._call(True, fn, args, kwargs)

    def _call(self, checks_ready: bool, fn: Callable, args: tuple, kwargs: dict):
        if self._down_since is not None and self._unreachable:
            with self._lock:
                now = time.monotonic()
                if self._unreachable and now < self._probe_at:
                    raise StoreUnavailable(self._reason)
                self._probe_at = now + RETRY_S  # this caller probes; the others fail fast meanwhile
        try:
            result = fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:  # incl. BusyLoadingError
            self._fail(f"Redis at {self.where} is not answering ({type(exc).__name__})", unreachable=True)
        except redis.ResponseError as exc:
            text = str(exc)
            if text.startswith(NOT_READY):
                self._fail("the store is not filled yet: waiting for the ingest worker (python -m app.ingest)",
                           unreachable=False)
            if isinstance(exc, redis.exceptions.ReadOnlyError) or text.startswith(("OOM", "MASTERDOWN", "BUSY")):
                self._fail(f"Redis at {self.where} refuses writes ({text.split(' ', 1)[0]})", unreachable=False)
            raise
        if self._down_since is not None:
            if checks_ready:
                self._recovered()
            else:
                self._unreachable = False  # Redis answers; whether it is filled, the store's next call says
        return result

    def _fail(self, reason: str, unreachable: bool):
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("store unavailable: %s; answering 'store unavailable' until it is back", reason)
            if unreachable:  # the next probe one interval after this failure (a timeout took a while)
                self._probe_at = time.monotonic() + RETRY_S
            self._reason, self._unreachable = reason, unreachable
        raise StoreUnavailable(reason) from None

    def _recovered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            log.info("store available again after %.1f s (Redis at %s)", time.monotonic() - self._down_since,
                     self.where)
            self._down_since, self._reason, self._unreachable = None, "", False
