"""Alarm conditions with on-delay, off-delay and deadband: one raise per episode, and its return.

An :class:`Alarm` follows one rule's condition reading by reading.  Normal, it raises once the
condition has held for its on-delay; raised, it returns to normal once the condition has been
clear for its off-delay.  A delay is a number of consecutive readings, or seconds of reading
time from the first reading of the run.  A deadband is a second, looser condition (``hold``)
that keeps a raised alarm active: e.g. raise above the limit, hold until below limit - deadband.
Vectorised over a batch; O(1) state, so one batch or many give the same raises and returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


NONE = np.zeros(0, dtype=np.intp)


class Event(NamedTuple):
    """A raised alarm: ``index`` counts readings since the detector started (0-based)."""

    index: int
    ts: float
    rule: str
    severity: str  # "warning" | "critical"
    message: str


class Return(NamedTuple):
    """A raised alarm whose condition has cleared (its off-delay elapsed) at reading ``index``."""

    index: int
    ts: float
    rule: str


class Delay(NamedTuple):
    """How long a condition must last: ``amount`` consecutive readings, or seconds when ``seconds``."""

    amount: float
    seconds: bool = False


@dataclass(frozen=True)
class Hysteresis:
    """One rule's on-delay, off-delay (None: the detector's ``clear_after`` readings) and deadband
    (in the line's unit; only rules with a threshold in that unit have one)."""

    on_delay: Delay = Delay(1)
    off_delay: Delay | None = None
    deadband: float = 0.0


class Streak:
    """Whether a condition has lasted ``delay`` at each reading; carries the current run between batches."""

    def __init__(self, delay: Delay):
        self.delay = delay
        self._length = 0  # readings in the run that ends at the last reading seen
        self._start = np.nan  # reading time of the run's first reading

    def update(self, ts: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n = len(mask)
        if not mask.any():  # the common case, cheaply
            self._length = 0 if n else self._length
            return np.zeros(n, dtype=bool)
        position = np.arange(n)
        last_break = np.maximum.accumulate(np.where(mask, -1, position))  # -1: no break yet in this batch
        carried = (last_break < 0) & (self._length > 0)
        length = position - last_break + np.where(last_break < 0, self._length, 0)
        start = np.where(carried, self._start, ts[np.minimum(last_break + 1, n - 1)])
        self._length, self._start = int(length[-1]), float(start[-1])
        return mask & ((ts - start if self.delay.seconds else length) >= self.delay.amount)


class Alarm:
    """One rule's alarm state: normal or raised."""

    def __init__(self, on_delay: Delay, off_delay: Delay):
        self.active = False
        self._on = Streak(on_delay)
        self._off = Streak(off_delay)

    def update(self, ts: np.ndarray, fire: np.ndarray, hold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions in this batch of the readings that raise the alarm, and of those that return it.

        ``fire``: where the condition holds; ``hold`` (default ``fire``): where it still holds for a
        raised alarm, the deadband's looser condition (a reading that fires also holds)."""
        hold = fire if hold is None else hold | fire
        can_raise = self._on.update(ts, fire)
        if not (self.active or can_raise.any()):  # stays normal; the off-streak restarts at the next raise
            return NONE, NONE
        can_return = self._off.update(ts, ~hold)
        # a reading cannot do both; the first of each run of the same kind changes the state
        candidates = np.flatnonzero(can_raise | can_return)
        if not len(candidates):
            return candidates, candidates
        raising = can_raise[candidates]
        changes = raising != np.concatenate(([self.active], raising[:-1]))
        self.active = bool(raising[-1])
        return candidates[changes & raising], candidates[changes & ~raising]
