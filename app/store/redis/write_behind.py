"""The ingest worker's way into Redis: a buffer in front of the streams, so an append never fails."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from typing import NamedTuple, Sequence

import numpy as np

from app.alarms import AlarmDraft, RaisedAlarm
from app.points import PointBatch
from app.store.protocol import StoreStats, StoreUnavailable, columns
from app.store.redis.stream import EMPTY_IDS, RedisLineStores, RedisStore

log = logging.getLogger(__name__)

INGEST_BUFFER_POINTS = 100_000  # the ingest worker holds at most this many points while Redis is away


class _Pending(NamedTuple):
    line: str
    token: str
    ts: np.ndarray
    value: np.ndarray
    prob: np.ndarray
    alarms: Sequence[AlarmDraft]


class BufferedLineStores:
    """The worker's ``LineStores`` over Redis, whose appends never fail.

    While Redis is unavailable (or not refilled yet) batches wait here in order, each with
    its token, and go out when it is back (``drain``, called by the worker's supervisor);
    beyond ``bound`` waiting points the oldest batches are dropped, counted and logged.
    Appended batches are also kept until the recorder has them on disk (``forget_recorded``),
    so a Redis restart that lost them can be refilled from here (``unrecorded``).
    """

    def __init__(self, stores: RedisLineStores, bound: int = INGEST_BUFFER_POINTS) -> None:
        self.stores = stores
        self.link = stores.link
        self.capacity = stores.capacity
        self.bound = bound
        self.known: dict[str, int] = {}  # the highest id known to be handed out, per line
        self.dropped = 0
        self._pending: deque[_Pending] = deque()
        self._pending_points = 0
        self._sent: dict[str, deque[PointBatch]] = {}
        self._sent_points = 0
        self._outage_since: float | None = None
        self._outage_dropped = 0
        self._views: dict[str, BufferedStore] = {}
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Points waiting for Redis."""
        return self._pending_points

    def get(self, line: str) -> "BufferedStore":
        view = self._views.get(line)
        if view is None:
            view = self._views.setdefault(line, BufferedStore(self, line))
        return view

    def find(self, line: str) -> RedisStore:
        return self.stores.find(line)

    def items(self) -> list[tuple[str, RedisStore]]:
        return self.stores.items()

    def append(self, line: str, ts, value, prob, alarms: Sequence[AlarmDraft] = (), token: str | None = None
               ) -> np.ndarray:
        """Queue a batch (with its alarms) and send what waits if Redis is available; the batch's ids, or none yet."""
        ts, value, prob = columns(ts, value, prob)
        if not len(ts):
            return EMPTY_IDS.copy()
        item = _Pending(line, token or uuid.uuid4().hex, ts, value, prob, tuple(alarms))
        with self._lock:
            self._pending.append(item)
            self._pending_points += len(ts)
            self._bound_pending()
            if not self.link.available:  # only the supervisor probes while Redis is away
                self._outage_started()
                return EMPTY_IDS.copy()
            return self._drain().get(item.token, EMPTY_IDS.copy())

    def drain(self) -> bool:
        """Send what waits; True when nothing is left waiting."""
        with self._lock:
            self._drain()
            return not self._pending

    def observe(self, line: str, last_seq: int) -> None:
        """Another writer's ids seen in Redis (the supervisor reads the counters)."""
        with self._lock:
            if last_seq > self.known.get(line, -1):
                self.known[line] = last_seq

    def unrecorded(self) -> dict[str, PointBatch]:
        """Points sent to Redis but not yet on disk, per line, oldest first."""
        with self._lock:
            return {line: PointBatch(*(np.concatenate(column) for column in zip(*batches)))
                    for line, batches in self._sent.items() if batches}

    def forget_recorded(self, cursors: dict[str, int]) -> None:
        with self._lock:
            for line, batches in self._sent.items():
                while batches and int(batches[0].seq[-1]) <= cursors.get(line, -1):
                    self._sent_points -= len(batches.popleft())

    def _drain(self) -> dict[str, np.ndarray]:
        sent: dict[str, np.ndarray] = {}
        while self._pending:
            item = self._pending[0]
            try:
                ids = self.stores.get(item.line).append(item.ts, item.value, item.prob, item.alarms, token=item.token)
            except StoreUnavailable:
                self._outage_started()
                return sent
            self._pending.popleft()
            self._pending_points -= len(ids)
            self._remember(item.line, PointBatch(ids, item.ts, item.value, item.prob))
            sent[item.token] = ids
        if self._outage_since is not None:
            self._outage_ended()
        return sent

    def _remember(self, line: str, batch: PointBatch) -> None:
        self._sent.setdefault(line, deque()).append(batch)
        self._sent_points += len(batch)
        self.known[line] = max(self.known.get(line, -1), int(batch.seq[-1]))
        while self._sent_points > self.bound:  # the recorder is far behind: keep the newest
            fullest = max((batches for batches in self._sent.values() if batches), key=len)
            self._sent_points -= len(fullest.popleft())

    def _bound_pending(self) -> None:
        while self._pending_points > self.bound and len(self._pending) > 1:
            lost = self._pending.popleft()
            self._pending_points -= len(lost.ts)
            if not self._outage_dropped:
                log.warning("ingest buffer full (INGEST_BUFFER_POINTS=%d): dropping the oldest points until the "
                            "store is back", self.bound)
            self._outage_dropped += len(lost.ts)
            self.dropped += len(lost.ts)

    def _outage_started(self) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning("store unavailable (%s): holding new points in memory, up to %d",
                        self.link.reason or "Redis", self.bound)

    def _outage_ended(self) -> None:
        took = time.monotonic() - self._outage_since
        if self._outage_dropped:
            log.warning("store back after %.1f s: the points held meanwhile are in; %d older ones were dropped "
                        "(buffer bound %d)", took, self._outage_dropped, self.bound)
        else:
            log.info("store back after %.1f s: every point held meanwhile is in, none dropped", took)
        self._outage_since, self._outage_dropped = None, 0


class BufferedStore:
    """One line of a :class:`BufferedLineStores`, a ``Store``: what the simulator source appends to."""

    def __init__(self, parent: BufferedLineStores, line: str) -> None:
        self.parent = parent
        self.line = line
        self.capacity = parent.capacity

    def append(self, ts, value, prob, alarms: Sequence[AlarmDraft] = (), token: str | None = None) -> np.ndarray:
        return self.parent.append(self.line, ts, value, prob, alarms, token)

    def alarms_between(self, first_seq: int, last_seq: int) -> list[RaisedAlarm]:
        return self.parent.stores.get(self.line).alarms_between(first_seq, last_seq)

    def since(self, cursor: int, limit: int | None = None) -> PointBatch:
        return self.parent.stores.get(self.line).since(cursor, limit)

    def tail(self, n: int) -> PointBatch:
        return self.parent.stores.get(self.line).tail(n)

    def stats(self) -> StoreStats:
        return self.parent.stores.get(self.line).stats()
