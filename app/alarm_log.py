"""Raised alarms, in the order they were raised, for the ticks and the recorder.

An alarm is an event of a detector (app/detectors) tied to the reading that raised it; its id,
``<line>/<seq>/<rule>``, is stable across processes and restarts.  The log keeps the newest
``capacity`` alarms in memory: ticks ask for those of the readings they carry, the recorder
writes every alarm to history with its own position in the log.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from collections import deque
from typing import NamedTuple

log = logging.getLogger(__name__)

ALARM_FIELDS = ("id", "line", "seq", "raised_ts", "rule", "severity", "value", "message")


class RaisedAlarm(NamedTuple):
    id: str
    line: str
    seq: int
    raised_ts: float
    rule: str
    severity: str
    value: float
    message: str

    @classmethod
    def of(cls, line: str, seq: int, ts: float, rule: str, severity: str, value: float, message: str) -> "RaisedAlarm":
        return cls(f"{line}/{seq}/{rule}", line, int(seq), float(ts), rule, severity, float(value), message)

    def to_dict(self) -> dict:
        return self._asdict()


class AlarmLog:
    """Thread-safe, bounded, append-only; position ``n`` is the n-th alarm ever added here."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._alarms: deque[RaisedAlarm] = deque(maxlen=capacity)
        self._next = 0  # position of the next alarm
        self._by_line: dict[str, list[RaisedAlarm]] = {}  # each in seq order, for the ticks
        self._lock = threading.Lock()

    def add(self, alarms: list[RaisedAlarm]) -> None:
        """Alarms in the order they were raised (per line: in reading order)."""
        with self._lock:
            self._alarms.extend(alarms)
            self._next += len(alarms)
            for alarm in alarms:
                line = self._by_line.setdefault(alarm.line, [])
                line.append(alarm)
                if len(line) > 2 * self.capacity:
                    del line[:-self.capacity]

    def since(self, position: int) -> tuple[list[RaisedAlarm], int, int]:
        """Alarms from ``position`` on, the position after them, and how many fell out of memory unread."""
        with self._lock:
            oldest = self._next - len(self._alarms)
            missed = max(0, oldest - position)
            start = max(position, oldest) - oldest
            return list(self._alarms)[start:], self._next, missed

    def for_readings(self, line: str, first_seq: int, last_seq: int) -> list[RaisedAlarm]:
        """The alarms raised by readings ``first_seq..last_seq`` of ``line``, oldest first."""
        with self._lock:
            alarms = self._by_line.get(line, [])
            start = bisect_left(alarms, first_seq, key=lambda alarm: alarm.seq)
            return alarms[start:bisect_right(alarms, last_seq, lo=start, key=lambda alarm: alarm.seq)]
