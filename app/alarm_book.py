"""The alarm book: every alarm's record and journal, changed only through app/alarm_lifecycle.py.

``AlarmBook`` is the one policy: the detectors' raises and returns, the operators' acknowledge,
shelve and unshelve, and the clock's shelf expiry and re-alarm all go through it.  Where the
records live is a :class:`Ledger`'s business; a ledger makes each change atomic (read the
record, apply the lifecycle function, write the record, its open-alarm index and the journal
entry in one step), so concurrent raises of one (line, rule) from several processes make one
alarm.  ``MemoryLedger`` is the in-process one.

Listeners (e.g. webhooks) get each committed :class:`~app.alarm_lifecycle.Step`.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Protocol, Sequence

from app.alarm_figures import AlarmFigures, alarm_figures
from app.alarm_lifecycle import (DEFAULT_SHELVE_MAX_MINUTES, PRIORITIES, AlarmDesign, AlarmRecord,
                                 ImpossibleTransition, JournalEntry, State, Step, acknowledge, due, raise_alarm,
                                 return_to_normal, shelve, unshelve)
from app.alarms import RaisedAlarm

Change = Callable[[AlarmRecord | None], Step | None]
QUERY_STATES = ("active", "unacknowledged", "shelved", "open", "all")  # the API's ``state`` filter


class UnknownAlarm(KeyError):
    """No alarm has this id (the API's 404)."""


class Ledger(Protocol):
    """Storage of alarm records and their journal; each ``change_*`` is one atomic step."""

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

    def listen(self, listener: Callable[[Step], None]) -> None:
        """Call ``listener`` with every step this book commits."""
        self._listeners.append(listener)

    # --- the detectors --------------------------------------------------------------------

    def raised(self, alarms: Iterable[RaisedAlarm]) -> list[Step]:
        """Raises from the detectors, in reading order."""
        steps = []
        for alarm in alarms:
            design = self.design(alarm.line, alarm.rule)
            steps.append(self.ledger.change_open(alarm.line, alarm.rule,
                                                 lambda current: raise_alarm(current, alarm, design, self.clock())))
        return self._committed(steps)

    def returned(self, line: str, rule: str, ts: float) -> list[Step]:
        """The condition of (line, rule) cleared at reading time ``ts``."""
        step = self.ledger.change_open(line, rule, lambda current: current and return_to_normal(current, ts,
                                                                                                 self.clock()))
        return self._committed([step])

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
        """Expired shelves and re-alarms due now (call it every few seconds)."""
        steps = []
        for record in self.ledger.open_records():
            design = self.design(record.line, record.rule)
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
        waiting = [r for r in self.ledger.open_records()
                   if r.state in (State.UNACKNOWLEDGED, State.RETURNED_UNACKNOWLEDGED)]
        newest = max(waiting, key=lambda r: (r.announced_at, r.last_raised_ts), default=None)
        return {"unacknowledged": {str(p): sum(r.priority == p for r in waiting) for p in PRIORITIES},
                "newest": newest.to_dict() if newest else None}

    def figures(self, since: float, until: float, operators: int = 1) -> AlarmFigures:
        """EEMUA 191 figures for reading times ``since``..``until``, from the journals of the
        alarms raised in that range (their acknowledgements may come later)."""
        records = [r for r in self.ledger.records(None, None, until) if r.last_raised_ts >= since]
        return alarm_figures(self.ledger.journal(*(r.id for r in records)), records, since, until, operators)

    # --------------------------------------------------------------------------------------

    def _act(self, alarm_id: str, change: Change) -> Step:
        def guarded(current):
            if current is None:
                raise UnknownAlarm(alarm_id)
            return change(current)
        return self._committed([self.ledger.change(alarm_id, guarded)])[0]

    def _committed(self, steps: Sequence[Step | None]) -> list[Step]:
        steps = [step for step in steps if step is not None]
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
                     and (since_ts is None or r.raised_ts >= since_ts) and (until_ts is None or r.raised_ts <= until_ts)]
        return sorted(found, key=lambda r: (r.raised_ts, r.id))

    def journal(self, *alarm_ids: str) -> list[JournalEntry]:
        wanted = set(alarm_ids)
        with self._lock:
            return [entry for entry in self._journal if entry.alarm_id in wanted]


__all__ = ["AlarmBook", "ImpossibleTransition", "Ledger", "MemoryLedger", "QUERY_STATES", "UnknownAlarm", "matches"]
