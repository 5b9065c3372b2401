"""What every point store shares: the ``Store`` interface, its stats, its input check, its failure."""

from __future__ import annotations

from typing import NamedTuple, Protocol, Sequence, runtime_checkable

import numpy as np

from app.alarms import AlarmDraft, RaisedAlarm
from app.points import PointBatch

RATE_SPAN_S = 10  # seconds of appends ``StoreStats.rate`` is averaged over


class StoreUnavailable(RuntimeError):
    """The store cannot be read or written right now (Redis unreachable, or being refilled).

    The message is one short line for the page and the API; no stack trace is needed.
    """


class StoreStats(NamedTuple):
    """What the store can say about the stream without copying points."""

    count: int  # points held
    next_seq: int  # the id the next point gets
    rate: float  # points appended per second over the last RATE_SPAN_S


@runtime_checkable
class Store(Protocol):
    """One line's points, each with an increasing integer sequence id, the newest ``capacity`` kept.

    A cursor is the last sequence id a reader has seen (``-1`` before any).  A point's alarms
    become visible with it.  Any call may raise :class:`StoreUnavailable` (a shared store that
    cannot answer now).
    """

    capacity: int

    def append(self, ts, value, prob, alarms: Sequence[AlarmDraft] = (), token: str | None = None) -> np.ndarray:
        """Append readings (equal-length array-likes) and the alarms they raised, in one step;
        return their sequence ids.  ``token`` names the append: a store that outlives the process
        (Redis) returns the same ids for the same token and stores nothing again."""

    def alarms_between(self, first_seq: int, last_seq: int) -> list[RaisedAlarm]:
        """The alarms raised by the points ``first_seq..last_seq`` still held, oldest first."""

    def since(self, cursor: int, limit: int | None = None) -> PointBatch:
        """Points with a sequence id above ``cursor``, oldest first, at most ``limit``."""

    def tail(self, n: int) -> PointBatch:
        """The newest ``n`` points, oldest first."""

    def stats(self) -> StoreStats:
        """Points held, the next id and the append rate."""


def columns(ts, value, prob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``append``'s arguments as float columns; ValueError unless they have one length."""
    ts, value, prob = (np.asarray(column, dtype=float).ravel() for column in (ts, value, prob))
    if not len(ts) == len(value) == len(prob):
        raise ValueError("ts, value and prob must have the same length")
    return ts, value, prob
