"""The life of an alarm after ISA-18.2 / IEC 62682, as pure functions on an immutable record.

An alarm is one (line, rule): the detectors raise and clear its condition (app/detectors),
operators acknowledge and shelve it.  Its record stays open until it is back to normal
(condition cleared and acknowledged), so a condition that comes back before that re-raises the
same alarm (its ``count`` grows; three raises within a minute mark it chattering) and
there is never more than one open alarm per (line, rule).

Every function returns ``Step(record, entry)``: the record after the transition and the journal
entry that says what happened, by whom and when; an impossible transition raises
:class:`ImpossibleTransition` (the API's 409).  Storage lives elsewhere (the alarm book); these
functions hold the one policy every store applies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from app.alarms import RaisedAlarm

CHATTER_RAISES = 3  # raises within CHATTER_WINDOW_S (reading time) that make an alarm chattering
CHATTER_WINDOW_S = 60.0
DEFAULT_SHELVE_MAX_MINUTES = 8 * 60
PRIORITIES = (1, 2, 3, 4)  # 1 is the most urgent
SEVERITY_PRIORITY = {"critical": 2, "warning": 3}  # a rule's priority when its design names none


class State(StrEnum):
    NORMAL = "normal"
    UNACKNOWLEDGED = "unacknowledged"  # active, not acknowledged
    ACKNOWLEDGED = "acknowledged"  # active, acknowledged
    RETURNED_UNACKNOWLEDGED = "returned-unacknowledged"  # back to normal, not acknowledged
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"  # by design: the line is paused or out of service
    OUT_OF_SERVICE = "out-of-service"  # the rule is taken out of service on this line


class Action(StrEnum):
    RAISE = "raise"
    RETURN = "return"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SHELVE_EXPIRED = "shelve-expired"
    REALARM = "re-alarm"


class ImpossibleTransition(ValueError):
    """The alarm's state does not allow the action (acknowledging an acknowledged alarm...);
    ``state`` is that state."""

    def __init__(self, message: str, state: State) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class AlarmDesign:
    """How one rule's alarms behave on one line (the lines file's ``[lines.<id>.alarms.<rule>]``).

    ``priority`` None: from the raise's severity (SEVERITY_PRIORITY).  ``realarm_minutes``: an
    alarm still active and unacknowledged that long is announced again.  ``mode``: "normal",
    "suppressed" (by design) or "out-of-service"; raises of a suppressed or out-of-service
    alarm are journaled but not announced.  On-delay, off-delay and deadband act on the
    condition itself, in the detector.
    """

    priority: int | None = None
    realarm_minutes: float | None = None
    mode: str = "normal"


@dataclass(frozen=True)
class AlarmRecord:
    """One alarm from its first raise until it is back to normal.

    Times: ``raised_ts``, ``last_raised_ts``, ``returned_ts`` are reading timestamps (the
    detectors' time, so a replay gives the same record); ``announced_at``, ``acknowledged_at``
    and ``shelved_until`` are wall-clock times of the people and the clock that acted.
    """

    id: str
    line: str
    rule: str
    priority: int
    severity: str
    message: str
    value: float
    raised_ts: float
    last_raised_ts: float
    announced_at: float
    active: bool = True
    acknowledged: bool = False
    mode: str = "normal"
    shelved_until: float | None = None
    count: int = 1
    recent_raises: tuple[float, ...] = ()
    chattering: bool = False
    returned_ts: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str = ""

    @property
    def state(self) -> State:
        if self.mode != "normal":
            return State(self.mode)
        if self.shelved_until is not None:
            return State.SHELVED
        if self.active:
            return State.ACKNOWLEDGED if self.acknowledged else State.UNACKNOWLEDGED
        return State.NORMAL if self.acknowledged else State.RETURNED_UNACKNOWLEDGED

    @property
    def open(self) -> bool:
        """Still needs the operator or the process: a new raise of its (line, rule) re-raises it."""
        return self.state is not State.NORMAL and (self.active or self.mode == "normal")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "state": self.state.value, "recent_raises": list(self.recent_raises)}


class JournalEntry(NamedTuple):
    alarm_id: str
    at: float  # wall-clock time of the transition
    action: str
    user: str
    comment: str
    state: str  # the alarm's state after it
    reading_ts: float | None = None  # raise and return: the reading's timestamp


class Step(NamedTuple):
    record: AlarmRecord
    entry: JournalEntry


def _step(record: AlarmRecord, action: Action, at: float, user: str = "", comment: str = "",
          reading_ts: float | None = None) -> Step:
    return Step(record, JournalEntry(record.id, at, action.value, user, comment, record.state.value, reading_ts))


def raise_alarm(current: AlarmRecord | None, raised: RaisedAlarm, design: AlarmDesign, now: float) -> Step | None:
    """A detector raised ``raised``; ``current`` is its (line, rule)'s open record, if any.

    Opens a record (or re-raises the open one: unacknowledged again, counted, chattering after
    CHATTER_RAISES raises within CHATTER_WINDOW_S).  None when the alarm is already active:
    the same condition reported twice is one alarm."""
    if current is not None and current.active:
        return None
    if current is None or not current.open:
        priority = design.priority or SEVERITY_PRIORITY.get(raised.severity, 3)
        record = AlarmRecord(raised.id, raised.line, raised.rule, priority, raised.severity, raised.message,
                             raised.value, raised.raised_ts, raised.raised_ts, now, mode=design.mode,
                             recent_raises=(raised.raised_ts,))
        return _step(record, Action.RAISE, now, comment=raised.message, reading_ts=raised.raised_ts)
    recent = tuple(ts for ts in (*current.recent_raises, raised.raised_ts)
                   if raised.raised_ts - ts < CHATTER_WINDOW_S)[-CHATTER_RAISES:]
    record = dataclasses.replace(
        current, active=True, acknowledged=False, count=current.count + 1, last_raised_ts=raised.raised_ts,
        value=raised.value, message=raised.message, severity=raised.severity, announced_at=now,
        recent_raises=recent, chattering=current.chattering or len(recent) >= CHATTER_RAISES, returned_ts=None)
    return _step(record, Action.RAISE, now, comment=raised.message, reading_ts=raised.raised_ts)


def return_to_normal(current: AlarmRecord, ts: float, now: float) -> Step | None:
    """The condition cleared at reading time ``ts``. None when it was not active."""
    if not current.active:
        return None
    return _step(dataclasses.replace(current, active=False, returned_ts=ts), Action.RETURN, now, reading_ts=ts)


def acknowledge(current: AlarmRecord, user: str, comment: str, now: float) -> Step:
    if current.state not in (State.UNACKNOWLEDGED, State.RETURNED_UNACKNOWLEDGED):
        raise ImpossibleTransition(f"alarm {current.id} is {current.state.value}; only an unacknowledged "
                                   "alarm can be acknowledged", current.state)
    record = dataclasses.replace(current, acknowledged=True, acknowledged_at=now, acknowledged_by=user)
    return _step(record, Action.ACKNOWLEDGE, now, user, comment)


def shelve(current: AlarmRecord, user: str, reason: str, minutes: float, now: float,
           max_minutes: float = DEFAULT_SHELVE_MAX_MINUTES) -> Step:
    """Hide the alarm for ``minutes`` (0 < minutes ≤ max_minutes, else ValueError); it unshelves itself."""
    if not 0 < minutes <= max_minutes:
        raise ValueError(f"minutes must be above 0 and at most {max_minutes:g}")
    if current.state not in (State.UNACKNOWLEDGED, State.ACKNOWLEDGED, State.RETURNED_UNACKNOWLEDGED):
        raise ImpossibleTransition(f"alarm {current.id} is {current.state.value}; only an alarm that is active "
                                   "or unacknowledged can be shelved", current.state)
    record = dataclasses.replace(current, shelved_until=now + minutes * 60, acknowledged=True)
    return _step(record, Action.SHELVE, now, user, reason)


def unshelve(current: AlarmRecord, user: str, now: float) -> Step:
    """Back from the shelf: unacknowledged if the condition is still there, else normal."""
    if current.state is not State.SHELVED:
        raise ImpossibleTransition(f"alarm {current.id} is {current.state.value}, not shelved", current.state)
    return _step(_off_the_shelf(current, now), Action.UNSHELVE, now, user)


def due(current: AlarmRecord, design: AlarmDesign, now: float) -> Step | None:
    """What the clock does to an alarm at ``now``: a shelf that expired, or a re-alarm of an alarm
    active and unacknowledged for ``design.realarm_minutes`` since it was last announced."""
    if current.state is State.SHELVED and now >= current.shelved_until:
        return _step(_off_the_shelf(current, now), Action.SHELVE_EXPIRED, now)
    if (current.state is State.UNACKNOWLEDGED and design.realarm_minutes is not None
            and now - current.announced_at >= design.realarm_minutes * 60):
        return _step(dataclasses.replace(current, announced_at=now), Action.REALARM, now)
    return None


def _off_the_shelf(current: AlarmRecord, now: float) -> AlarmRecord:
    return dataclasses.replace(current, shelved_until=None, acknowledged=not current.active, announced_at=now)
