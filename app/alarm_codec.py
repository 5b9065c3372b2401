"""Alarm records and journal entries as JSON text, for ledgers that store text (SQLite, Redis)."""

from __future__ import annotations

import dataclasses
import json

from app.alarm_lifecycle import AlarmRecord, JournalEntry


def record_to_json(record: AlarmRecord) -> str:
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


def record_from_json(text: str | bytes) -> AlarmRecord:
    fields = json.loads(text)
    return AlarmRecord(**{**fields, "recent_raises": tuple(fields.get("recent_raises", ()))})


def entry_to_json(entry: JournalEntry) -> str:
    return json.dumps(entry._asdict(), separators=(",", ":"))


def entry_from_json(text: str | bytes) -> JournalEntry:
    return JournalEntry(**json.loads(text))
