"""In-memory ring buffer of points, safe for concurrent writers and readers."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from typing import Sequence

import numpy as np

from app.alarms import AlarmDraft, RaisedAlarm
from app.points import PointBatch
from app.store.protocol import RATE_SPAN_S, StoreStats, columns


class MemoryStore:
    """A ``Store`` in one process: the newest ``capacity`` points; ids start at ``first_seq``, never repeat.

    A cursor is the last sequence id a reader has seen (``-1`` before any).  ``since``
    returns what follows it, starting at the oldest point still held when the reader
    fell behind by more than the capacity.  The alarms of the points held are kept with them.
    """

    def __init__(self, capacity: int, first_seq: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._ts = np.zeros(capacity)
        self._value = np.zeros(capacity)
        self._prob = np.zeros(capacity)
        self._first_seq = first_seq
        self._next_seq = first_seq
        self._per_second = np.zeros(RATE_SPAN_S, dtype=np.int64)  # appends, by whole second mod span
        self._counted_second = 0  # the newest second the counters describe
        self._alarms: list[RaisedAlarm] = []  # of the points held, in sequence order
        self._lock = threading.Lock()

    def append(self, ts, value, prob, alarms: Sequence[AlarmDraft] = (), token: str | None = None) -> np.ndarray:
        """Append readings (equal-length array-likes) and the alarms they raised; return their sequence ids.

        ``token`` is not needed here: this store lives and dies with the recorder that wrote its
        points (and idempotency keys) ahead."""
        ts, value, prob = columns(ts, value, prob)
        n = len(ts)
        with self._lock:
            start = self._next_seq
            keep = min(n, self.capacity)
            for column, data in ((self._ts, ts), (self._value, value), (self._prob, prob)):
                self._write(column, start + n - keep, data[n - keep:])
            self._next_seq = start + n
            self._per_second[self._advance_to_now() % RATE_SPAN_S] += n
            self._keep_alarms([draft.raised(start) for draft in alarms])
        return np.arange(start, start + n, dtype=np.int64)

    def load(self, batch: PointBatch, alarms: Sequence[RaisedAlarm] = ()) -> None:
        """Fill an empty store with recorded points and their alarms, keeping their sequence ids."""
        with self._lock:
            if self._next_seq != self._first_seq:
                raise RuntimeError("load() needs an empty store")
            if len(batch):
                self._first_seq = self._next_seq = int(batch.seq[0])
        if len(batch):
            self.append(batch.ts, batch.value, batch.prob)
            with self._lock:
                self._per_second[:] = 0  # a restore is not throughput
                self._keep_alarms(sorted(alarms, key=lambda alarm: alarm.seq))

    def alarms_between(self, first_seq: int, last_seq: int) -> list[RaisedAlarm]:
        """The alarms raised by the points ``first_seq..last_seq`` still held, oldest first."""
        with self._lock:
            low = bisect_left(self._alarms, first_seq, key=lambda alarm: alarm.seq)
            return self._alarms[low:bisect_right(self._alarms, last_seq, lo=low, key=lambda alarm: alarm.seq)]

    def since(self, cursor: int, limit: int | None = None) -> PointBatch:
        """Points with a sequence id above ``cursor``, oldest first, at most ``limit``."""
        with self._lock:
            low = max(cursor + 1, self._oldest_seq())
            high = self._next_seq if limit is None else min(self._next_seq, low + max(limit, 0))
            return self._read(low, high)

    def tail(self, n: int) -> PointBatch:
        """The newest ``n`` points, oldest first."""
        with self._lock:
            return self._read(max(self._next_seq - max(n, 0), self._oldest_seq()), self._next_seq)

    def stats(self) -> StoreStats:
        with self._lock:
            self._advance_to_now()
            return StoreStats(self._next_seq - self._oldest_seq(), self._next_seq,
                              float(self._per_second.sum()) / RATE_SPAN_S)

    def _advance_to_now(self) -> int:
        """Clear the counters of seconds that passed without appends; return the current second."""
        second = int(time.monotonic())
        passed = second - self._counted_second
        if passed >= RATE_SPAN_S:
            self._per_second[:] = 0
        else:
            for old in range(self._counted_second + 1, second + 1):
                self._per_second[old % RATE_SPAN_S] = 0
        self._counted_second = second
        return second

    def _keep_alarms(self, raised: list[RaisedAlarm]) -> None:
        """Add alarms (in sequence order, after those held) and forget those of points no longer held."""
        self._alarms.extend(raised)
        oldest = self._oldest_seq()
        if self._alarms and self._alarms[0].seq < oldest:
            del self._alarms[:bisect_left(self._alarms, oldest, key=lambda alarm: alarm.seq)]

    def _oldest_seq(self) -> int:
        return max(self._first_seq, self._next_seq - self.capacity)

    def _write(self, column: np.ndarray, seq: int, data: np.ndarray) -> None:
        start = seq % self.capacity
        head = min(len(data), self.capacity - start)
        column[start:start + head] = data[:head]
        column[:len(data) - head] = data[head:]

    def _read(self, low: int, high: int) -> PointBatch:
        if high <= low:
            return PointBatch.empty()
        start, n = low % self.capacity, high - low
        head = min(n, self.capacity - start)

        def take(column: np.ndarray) -> np.ndarray:
            if head == n:
                return column[start:start + n].copy()
            return np.concatenate((column[start:], column[:n - head]))

        return PointBatch(np.arange(low, high, dtype=np.int64), take(self._ts), take(self._value), take(self._prob))
