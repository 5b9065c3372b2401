"""Readings from outside (HTTP, MQTT, replay files, the simulator): one validation for all.

``validate_points`` turns decoded JSON into columns or raises :class:`InvalidPoint`
naming the first bad point and field; nothing is stored unless every point is valid.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import NamedTuple, Sequence

import numpy as np

from app.points import DEFAULT_LINE

MAX_FUTURE_S = 300.0
LINE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")  # always fullmatch: "$" matches before a final "\n"
FIELDS = ("ts", "value", "defect_prob", "line")


class InvalidPoint(ValueError):
    """A point failed validation; ``index`` and ``field`` say which."""

    def __init__(self, index: int, field: str, message: str) -> None:
        self.index, self.field, self.reason = index, field, message
        super().__init__(f"point {index}: {field} {message}")

    def to_dict(self) -> dict:
        return {"error": str(self), "index": self.index, "field": self.field}


class Readings(NamedTuple):
    """Validated points as columns; ``prob`` is NaN where the sender gave none."""

    ts: np.ndarray
    value: np.ndarray
    prob: np.ndarray
    line: list[str]

    def __len__(self) -> int:
        return len(self.ts)


def _number(raw, index: int, field: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise InvalidPoint(index, field, f"must be a number, not {type(raw).__name__}")
    try:
        value = float(raw)
    except OverflowError:  # an integer of hundreds of digits
        raise InvalidPoint(index, field, "must be a finite number") from None
    if not math.isfinite(value):
        raise InvalidPoint(index, field, "must be a finite number")
    return value


def _timestamp(raw, index: int, now: float, retention_days: float | None) -> float:
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidPoint(index, "ts", "must be epoch seconds or an ISO-8601 time") from None
        ts = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    else:
        ts = _number(raw, index, "ts")
    if ts <= 0:
        raise InvalidPoint(index, "ts", "must be after 1970")
    if ts > now + MAX_FUTURE_S:
        raise InvalidPoint(index, "ts", f"is more than {MAX_FUTURE_S:.0f} s in the future")
    if retention_days is not None and ts < now - retention_days * 86400:
        raise InvalidPoint(index, "ts", f"is older than the retention of {retention_days:g} days "
                                        "(LINEWATCH_RETENTION_DAYS): it would be deleted at once")
    return ts


def validate_point(item, index: int, now: float, retention_days: float | None = None
                   ) -> tuple[float, float, float, str]:
    if not isinstance(item, dict):
        raise InvalidPoint(index, "point", f"must be an object, not {type(item).__name__}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise InvalidPoint(index, unknown[0], "is not a known field (ts, value, defect_prob, line)")
    if "value" not in item:
        raise InvalidPoint(index, "value", "is required")
    value = _number(item["value"], index, "value")
    prob = math.nan
    if item.get("defect_prob") is not None:
        prob = _number(item["defect_prob"], index, "defect_prob")
        if not 0.0 <= prob <= 1.0:
            raise InvalidPoint(index, "defect_prob", "must be between 0 and 1")
    ts = now if item.get("ts") is None else _timestamp(item["ts"], index, now, retention_days)
    line = item.get("line", DEFAULT_LINE)
    if not isinstance(line, str) or not LINE_ID.fullmatch(line):
        raise InvalidPoint(index, "line", "must be 1-64 letters, digits or _.:- (starting with a letter or digit)")
    return ts, value, prob, line


def validate_points(items: Sequence, now: float, retention_days: float | None = None) -> Readings:
    """Columns for ``items`` (decoded JSON objects); the first invalid one raises.

    With ``retention_days``, a time older than the history keeps is invalid.
    """
    rows = [validate_point(item, index, now, retention_days) for index, item in enumerate(items)]
    if not rows:
        return Readings(np.empty(0), np.empty(0), np.empty(0), [])
    ts, value, prob, line = zip(*rows)
    return Readings(np.array(ts), np.array(value), np.array(prob), list(line))
