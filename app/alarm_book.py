"""The alarm book: every alarm's record and journal, changed only through app/alarm_lifecycle.py.

``AlarmBook`` is the one policy: the detectors' raises and returns, the operators' acknowledge,
shelve and unshelve, and the clock's shelf expiry and re-alarm all go through it.  Where the
records live is a :class:`Ledger`'s business; a ledger makes each change atomic (read the
record, apply the lifecycle function, write the record, its open-alarm index and the journal
entry in one step), so concurrent raises of one (line, rule) from several processes make one
alarm.  ``MemoryLedger`` is the in-process one; app/alarm_ledger.py keeps them in the history
(SQLite or PostgreSQL), app/store/redis/alarm_ledger.py in Redis.

When the ledger cannot store (LedgerUnavailable: the disk or Redis refuses), the detectors'
raises and returns wait in this process, in order, and are booked by the next ``raised``,
``returned`` or ``sweep`` once it can (so ingest goes on and nothing is lost while the process
lives; at most MAX_WAITING wait, beyond that the oldest are dropped and counted in the log).
Operators' actions are refused instead (the API's 503): nothing changed, they retry.

Listeners (e.g. webhooks) get each committed :class:`~app.alarm_lifecycle.Step`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable, Iterable, Protocol, Sequence

from cachetools import TTLCache, cachedmethod

from app.alarm_figures import AlarmFigures, alarm_figures
from app.alarm_lifecycle import (DEFAULT_SHELVE_MAX_MINUTES, PRIORITIES, AlarmDesign, AlarmRecord,
                                 ImpossibleTransition, JournalEntry, State, Step, acknowledge, due, raise_alarm,
                                 return_to_normal, shelve, unshelve)
from app.alarms import RaisedAlarm

log = logging.getLogger(__name__)

Change = Callable[[AlarmRecord | None], Step | None]
SUMMARY_CACHE_S = 0.5  # the open alarms the ticks show are read from the ledger at most this often
QUERY_STATES = ("active", "unacknowledged", "shelved", "open", "all")  # the API's ``state`` filter
MAX_WAITING = 10_000  # raises and returns held in memory while the ledger cannot store them


class LedgerUnavailable(RuntimeError):
    """The ledger cannot read or write now (disk full or read-only, Redis away); one short line why."""


class UnknownAlarm(KeyError):
    """No alarm has this id (the API's 404)."""


class Ledger(Protocol):
    """Storage of alarm records and their journal; each ``change_*`` is one atomic step.

    Every method raises LedgerUnavailable when the storage cannot serve; then nothing changed."""

    def change_open(self, line: str, rule: str, change: Change) -> Step | None:
        """Apply ``change`` to the open record of (line, rule) (None when there is none) and store its step."""

    def change(self, alarm_id: str, change: Change) -> Step | None:
        """Apply ``change`` to the record ``alarm_id`` (UnknownAlarm when there is none) and store its step."""

    def record(self, alarm_id: str) -> AlarmRecord | None: ...

    def open_records(self) -> list[AlarmRecord]: ...

    def records(self, line: str | None, since_ts: float | None, until_ts: float | None) -> list[AlarmRecord]:
        """Records (of ``line``, or every line) first raised in the reading-time range, oldest first."""

    def journal(self, *alarm_ids: str) -> list[JournalEntry]:
        """The entries of these alarms, in the order they were written."""

    def forget(self, before_ts: float) -> int:
        """Delete the alarms first raised before ``before_ts`` that are back to normal, with their
        journals (retention); the count deleted."""


def matches(record: AlarmRecord, state: str) -> bool:
    """Whether ``record`` passes the API's ``state`` filter (one of QUERY_STATES)."""
    if state == "active":
        return record.active
    if state == "unacknowledged":
        return record.state in (State.UNACKNOWLEDGED, State.RETURNED_UNACKNOWLEDGED)
    if state == "shelved":
        return record.state is State.SHELVED
    if state == "open":
        return record.open
    return True


class AlarmBook:
    """The alarms of every line, after the lifecycle's rules; thread-safe when its ledger is.

    ``design(line, rule)`` gives a rule's alarm design on a line; ``clock`` the wall time.
    """

    def __init__(self, ledger: Ledger, design: Callable[[str, str], AlarmDesign] = lambda line, rule: AlarmDesign(),
                 shelve_max_minutes: float = DEFAULT_SHELVE_MAX_MINUTES, clock: Callable[[], float] = time.time):
        self.ledger = ledger
        self.design = design
        self.shelve_max_minutes = shelve_max_minutes
        self.clock = clock
        self._listeners: list[Callable[[Step], None]] = []
        self._waiting: deque[tuple[str, str, Change]] = deque()  # (line, rule, change) the ledger refused
        self._waiting_lock = threading.Lock()
        self._dropped = 0  # in this episode of refusals
        self._refused = False  # the last try to book failed (logged once per episode)
        self._open = TTLCache(maxsize=1, ttl=SUMMARY_CACHE_S)  # the ledger's open records, as last read
        self._open_reading = threading.Condition()  # one read at a time: the others wait for it
        self._commits = 0  # the open records' cache key: a read begun before a commit never answers after it

    def listen(self, listener: Callable[[Step], None]) -> None:
        """Call ``listener`` with every step this book commits."""
        self._listeners.append(listener)

    # --- the detectors --------------------------------------------------------------------

    def raised(self, alarms: Iterable[RaisedAlarm]) -> list[Step]:
        """Raises from the detectors, in reading order; the steps booked (with those that waited)."""
        return self._detected([(alarm.line, alarm.rule, self._raise(alarm)) for alarm in alarms])

    def returned(self, line: str, rule: str, ts: float) -> list[Step]:
        """The condition of (line, rule) cleared at reading time ``ts``; the steps booked."""
        return self._detected([(line, rule, lambda current: current and return_to_normal(current, ts,
                                                                                          self.clock()))])

    @property
    def waiting(self) -> int:
        """Raises and returns not booked yet because the ledger refused them."""
        return len(self._waiting)

    def _raise(self, alarm: RaisedAlarm) -> Change:
        design = self.design(alarm.line, alarm.rule)
        return lambda current: raise_alarm(current, alarm, design, self.clock())

    def _detected(self, changes: list[tuple[str, str, Change]]) -> list[Step]:
        """Book ``changes`` after those still waiting; what the ledger refuses waits for the next call."""
        with self._waiting_lock:
            self._waiting.extend(changes)
            while len(self._waiting) > MAX_WAITING:
                self._waiting.popleft()
                self._dropped += 1
                if self._dropped == 1:
                    log.error("alarm ledger unavailable: more than %d raises and returns wait; dropping the "
                              "oldest (counted when it stores again)", MAX_WAITING)
            return self._committed(self._book_waiting())

    def _book_waiting(self) -> list[Step | None]:
        steps = []
        while self._waiting:
            line, rule, change = self._waiting[0]
            try:
                steps.append(self.ledger.change_open(line, rule, change))
            except LedgerUnavailable as exc:
                if not self._refused:
                    log.warning("alarm ledger unavailable: %s; raises and returns wait in memory until it "
                                "stores again", exc)
                self._refused = True
                return steps
            self._waiting.popleft()
        if self._refused:
            log.info("alarm ledger available again: the raises and returns that waited are booked (%d dropped)",
                     self._dropped)
        self._refused, self._dropped = False, 0
        return steps

    # --- the operators --------------------------------------------------------------------

    def acknowledge(self, alarm_id: str, user: str, comment: str = "") -> Step:
        return self._act(alarm_id, lambda current: acknowledge(current, user, comment, self.clock()))

    def shelve(self, alarm_id: str, user: str, reason: str, minutes: float) -> Step:
        """ValueError for a duration outside (0, shelve_max_minutes]."""
        return self._act(alarm_id, lambda current: shelve(current, user, reason, minutes, self.clock(),
                                                          self.shelve_max_minutes))

    def unshelve(self, alarm_id: str, user: str) -> Step:
        return self._act(alarm_id, lambda current: unshelve(current, user, self.clock()))

    # --- the clock ------------------------------------------------------------------------

    def sweep(self) -> list[Step]:
        """Raises that waited for the ledger, then expired shelves and re-alarms due now (call it
        every second or so); LedgerUnavailable when the ledger cannot be read."""
        with self._waiting_lock:
            steps = self._book_waiting()
        for record in self.ledger.open_records():
            design = self.design(record.line, record.rule)
            if due(record, design, self.clock()) is not None:  # re-checked on the current record, atomically
                steps.append(self.ledger.change(record.id, lambda current: current and due(current, design,
                                                                                             self.clock())))
        return self._committed(steps)

    # --- reading --------------------------------------------------------------------------

    def get(self, alarm_id: str) -> tuple[AlarmRecord, list[JournalEntry]]:
        record = self.ledger.record(alarm_id)
        if record is None:
            raise UnknownAlarm(alarm_id)
        return record, self.ledger.journal(alarm_id)

    def query(self, line: str | None = None, state: str = "all", since_ts: float | None = None,
              until_ts: float | None = None, limit: int | None = None) -> list[AlarmRecord]:
        """Alarms first raised in the range, oldest first, passing ``state`` (QUERY_STATES);
        the newest ``limit`` of them."""
        found = [r for r in self.ledger.records(line, since_ts, until_ts) if matches(r, state)]
        return found[-limit:] if limit else found

    def summary(self) -> dict:
        """What the alarm bar shows: unacknowledged alarms by priority and the newest one."""
        waiting = [r for r in self._open_records()
                   if r.state in (State.UNACKNOWLEDGED, State.RETURNED_UNACKNOWLEDGED)]
        newest = max(waiting, key=lambda r: (r.announced_at, r.last_raised_ts), default=None)
        return {"unacknowledged": {str(p): sum(r.priority == p for r in waiting) for p in PRIORITIES},
                "newest": newest.to_dict() if newest else None}

    def open_alarms(self) -> list[AlarmRecord]:
        """Every line's open alarms (as ``query(state="open")``), from the ledger's index of open
        alarms, not its history: cheap enough for every overview tick."""
        return [r for r in self._open_records() if r.open]

    def figures(self, since: float, until: float, operators: int = 1, line: str | None = None) -> AlarmFigures:
        """EEMUA 191 figures for reading times ``since``..``until`` (of ``line``, or every line), from
        the journals of the alarms raised in that range (their acknowledgements may come later)."""
        records = [r for r in self.ledger.records(line, None, until) if r.last_raised_ts >= since]
        return alarm_figures(self.ledger.journal(*(r.id for r in records)), records, since, until, operators)

    # --------------------------------------------------------------------------------------

    def _act(self, alarm_id: str, change: Change) -> Step:
        def guarded(current):
            if current is None:
                raise UnknownAlarm(alarm_id)
            return change(current)
        return self._committed([self.ledger.change(alarm_id, guarded)])[0]

    @cachedmethod(lambda self: self._open, key=lambda self: self._commits,
                  condition=lambda self: self._open_reading)
    def _open_records(self) -> list[AlarmRecord]:
        """The ledger's open records, shared by every viewer's tick (the alarm bar, the overview's
        tiles): read at most every SUMMARY_CACHE_S, and at once after a change this book committed
        (another process's shows within that time)."""
        return self.ledger.open_records()

    def _committed(self, steps: Sequence[Step | None]) -> list[Step]:
        steps = [step for step in steps if step is not None]
        if steps:
            with self._open_reading:
                self._commits += 1
        for step in steps:
            for listener in self._listeners:
                listener(step)
        return steps


class MemoryLedger:
    """Records and journal in this process (tests, and a book nobody else shares)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, AlarmRecord] = {}
        self._open: dict[tuple[str, str], str] = {}
        self._journal: list[JournalEntry] = []

    def change_open(self, line: str, rule: str, change: Change) -> Step | None:
        with self._lock:
            alarm_id = self._open.get((line, rule))
            return self._store(change(self._records[alarm_id] if alarm_id else None))

    def change(self, alarm_id: str, change: Change) -> Step | None:
        with self._lock:
            if alarm_id not in self._records:
                raise UnknownAlarm(alarm_id)
            return self._store(change(self._records[alarm_id]))

    def _store(self, step: Step | None) -> Step | None:
        if step is None:
            return None
        record = step.record
        self._records[record.id] = record
        key = (record.line, record.rule)
        if record.open:
            self._open[key] = record.id
        elif self._open.get(key) == record.id:
            del self._open[key]
        self._journal.append(step.entry)
        return step

    def record(self, alarm_id: str) -> AlarmRecord | None:
        return self._records.get(alarm_id)

    def open_records(self) -> list[AlarmRecord]:
        with self._lock:
            return [self._records[alarm_id] for alarm_id in self._open.values()]

    def records(self, line: str | None, since_ts: float | None, until_ts: float | None) -> list[AlarmRecord]:
        with self._lock:
            found = [r for r in self._records.values() if (line is None or r.line == line)
                     and (since_ts is None or r.raised_ts >= since_ts)
                     and (until_ts is None or r.raised_ts <= until_ts)]
        return sorted(found, key=lambda r: (r.raised_ts, r.id))

    def journal(self, *alarm_ids: str) -> list[JournalEntry]:
        wanted = set(alarm_ids)
        with self._lock:
            return [entry for entry in self._journal if entry.alarm_id in wanted]

    def forget(self, before_ts: float) -> int:
        with self._lock:
            gone = {alarm_id for alarm_id, r in self._records.items()
                    if r.raised_ts < before_ts and self._open.get((r.line, r.rule)) != alarm_id}
            self._records = {alarm_id: r for alarm_id, r in self._records.items() if alarm_id not in gone}
            self._journal = [entry for entry in self._journal if entry.alarm_id not in gone]
        return len(gone)


__all__ = ["AlarmBook", "ImpossibleTransition", "Ledger", "LedgerUnavailable", "MemoryLedger", "QUERY_STATES",
           "UnknownAlarm", "matches"]
