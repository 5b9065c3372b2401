"""What alarm tests share: a clock moved by hand and a raise as the detectors make them."""

from __future__ import annotations

from app.alarms import AlarmDraft, RaisedAlarm


class Clock:
    """A clock the test moves by hand: ``clock.now += 60``."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def raised(line: str = "oven", rule: str = "score", ts: float = 100.0, seq: int = 1,
           severity: str = "warning") -> RaisedAlarm:
    """A raise of (line, rule) by the reading ``seq`` at reading time ``ts``, value 91.5, scored 0.8."""
    return AlarmDraft(0, line, ts, rule, severity, 91.5, "value 91.5 is anomalous (score 0.8)").raised(seq)
