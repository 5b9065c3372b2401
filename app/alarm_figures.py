"""Alarm-system performance after EEMUA 191, computed from the alarm journal (pure numpy).

Counted are the alarms announced to the operator: journal "raise" entries whose state after the
raise is unacknowledged (a raise while shelved, suppressed or out of service is not announced).
Their time is the reading's timestamp, so a replayed file is judged on its own clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, NamedTuple

import numpy as np

from app.alarm_lifecycle import Action, AlarmRecord, JournalEntry, State

TEN_MINUTES_S = 600.0
TARGET_PER_10_MIN = 1.0  # EEMUA 191: at most one alarm per operator per 10 minutes is acceptable
FLOOD_PER_10_MIN = 10  # more than this in 10 minutes is a flood
STALE_AFTER_S = 24 * 3600.0
BAD_ACTORS = 10


class BadActor(NamedTuple):
    line: str
    rule: str
    count: int
    share: float  # of all announced alarms, 0..1


class AlarmFigures(NamedTuple):
    period_s: float
    announced: int
    per_10_min: float  # average, per operator
    peak_10_min: int  # most in one 10-minute interval
    flood_share: float  # of the 10-minute intervals, 0..1, in flood
    chattering: int  # alarms marked chattering
    stale: int  # alarms active for more than 24 h at the period's end
    bad_actors: list[BadActor]
    ack_median_s: float | None  # time from announcement to acknowledgement
    ack_p90_s: float | None

    def to_dict(self) -> dict:
        return {**self._asdict(), "bad_actors": [actor._asdict() for actor in self.bad_actors],
                "target_per_10_min": TARGET_PER_10_MIN, "flood_per_10_min": FLOOD_PER_10_MIN}


def announced(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    return [e for e in entries if e.action == Action.RAISE and e.state == State.UNACKNOWLEDGED]


def alarm_figures(entries: Iterable[JournalEntry], records: Iterable[AlarmRecord], start: float, end: float,
                  operators: int = 1) -> AlarmFigures:
    """EEMUA 191 figures for reading times ``start``..``end`` (seconds); ``entries`` and
    ``records`` are the journal and the alarms of that period (others are ignored)."""
    entries = list(entries)
    raises = [e for e in announced(entries) if start <= e.reading_ts < end]
    times = np.array([e.reading_ts for e in raises], dtype=float)
    period = max(end - start, 1e-9)
    intervals = max(1, int(np.ceil(period / TEN_MINUTES_S)))
    per_interval = np.bincount(((times - start) // TEN_MINUTES_S).astype(int), minlength=intervals)[:intervals]
    records = {record.id: record for record in records}
    by_alarm = Counter((records[e.alarm_id].line, records[e.alarm_id].rule) for e in raises if e.alarm_id in records)
    total = max(len(raises), 1)
    ack_times = _ack_times(entries)
    return AlarmFigures(
        period_s=period, announced=len(raises),
        per_10_min=len(raises) / (period / TEN_MINUTES_S) / operators,
        peak_10_min=int(per_interval.max()),
        flood_share=float(np.mean(per_interval / operators > FLOOD_PER_10_MIN)),
        chattering=sum(record.chattering for record in records.values()),
        stale=sum(record.active and end - record.raised_ts > STALE_AFTER_S for record in records.values()),
        bad_actors=[BadActor(line, rule, n, n / total) for (line, rule), n in by_alarm.most_common(BAD_ACTORS)],
        ack_median_s=float(np.median(ack_times)) if len(ack_times) else None,
        ack_p90_s=float(np.percentile(ack_times, 90)) if len(ack_times) else None)


def _ack_times(entries: list[JournalEntry]) -> np.ndarray:
    """Seconds from each acknowledged announcement (raise or re-alarm) to its acknowledgement."""
    announced_at: dict[str, float] = {}
    waits = []
    for entry in sorted(entries, key=lambda e: e.at):
        if entry.action in (Action.RAISE, Action.REALARM) and entry.state == State.UNACKNOWLEDGED:
            announced_at.setdefault(entry.alarm_id, entry.at)
        elif entry.action == Action.ACKNOWLEDGE and entry.alarm_id in announced_at:
            waits.append(entry.at - announced_at.pop(entry.alarm_id))
    return np.array(waits, dtype=float)
