"""Alarms: the detectors' events, carried by the store with the readings that raised them.

The ingest hands the store an :class:`AlarmDraft` per event (its reading's offset in the
appended batch); the store gives the reading its sequence id and keeps a
:class:`RaisedAlarm` beside it, in the same step, so a reader that sees a reading also sees its
alarms.  An alarm's id, ``<line>/<seq>/<rule>``, is stable across processes and restarts.
"""

from __future__ import annotations

import json
from typing import NamedTuple

ALARM_FIELDS = ("id", "line", "seq", "raised_ts", "rule", "severity", "value", "message")


class AlarmDraft(NamedTuple):
    """An alarm before its reading has a sequence id: ``offset`` is the reading's place in its batch."""

    offset: int
    line: str
    raised_ts: float
    rule: str
    severity: str
    value: float
    message: str

    def raised(self, first_seq: int) -> "RaisedAlarm":
        """The alarm once the batch's first reading got ``first_seq``."""
        seq = first_seq + self.offset
        return RaisedAlarm(f"{self.line}/{seq}/{self.rule}", self.line, seq, float(self.raised_ts), self.rule,
                           self.severity, float(self.value), self.message)

    def to_json(self) -> str:
        """Everything but the sequence id (the shared store adds it)."""
        return json.dumps(self._asdict(), separators=(",", ":"))


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
    def from_json(cls, seq: int, text: str | bytes) -> "RaisedAlarm":
        fields = json.loads(text)
        return AlarmDraft(0, fields["line"], fields["raised_ts"], fields["rule"], fields["severity"],
                          fields["value"], fields["message"]).raised(seq)


def seq_of(alarm_id: str) -> int:
    """The sequence id of the reading that raised the alarm ``<line>/<seq>/<rule>`` (line ids have no "/")."""
    return int(alarm_id.split("/", 2)[1])
