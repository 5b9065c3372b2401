"""Alarms with their journal as CSV: one row per journal entry, led by its alarm's columns.

Text typed by people (comments, users) that a spreadsheet would run as a formula is kept as
text (a leading apostrophe, as OWASP advises against CSV injection)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Iterable

from app.alarm_lifecycle import AlarmRecord, JournalEntry

ALARM_COLUMNS = ("alarm_id", "line", "rule", "priority", "severity", "raised_ts", "message", "alarm_state", "count",
                 "chattering")
ENTRY_COLUMNS = ("time_utc", "at", "action", "user", "comment", "state", "reading_ts")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def alarms_csv(records: Iterable[AlarmRecord], journal: Iterable[JournalEntry]) -> str:
    """``records`` in their order, each followed by its entries of ``journal`` in theirs; times are
    epoch seconds, ``time_utc`` the entry's in ISO-8601 UTC."""
    entries: dict[str, list[JournalEntry]] = {}
    for entry in journal:
        entries.setdefault(entry.alarm_id, []).append(entry)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ALARM_COLUMNS + ENTRY_COLUMNS)
    for record in records:
        alarm = (record.id, record.line, record.rule, record.priority, record.severity, record.raised_ts,
                 _text(record.message), record.state.value, record.count, record.chattering)
        for entry in entries.get(record.id, []):
            time_utc = datetime.fromtimestamp(entry.at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            writer.writerow(alarm + (time_utc, entry.at, entry.action, _text(entry.user),
                                     _text(entry.comment), entry.state,
                                     "" if entry.reading_ts is None else entry.reading_ts))
    return out.getvalue()


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value
