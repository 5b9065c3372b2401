"""Alarm events with hysteresis: one event per episode of a firing condition."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Event(NamedTuple):
    """A raised alarm: ``index`` counts readings since the detector started (0-based)."""

    index: int
    ts: float
    rule: str
    severity: str  # "warning" | "critical"
    message: str


class Alarm:
    """Raises once when a condition starts firing; stays raised while it keeps firing.

    The alarm clears once the condition has been false for ``clear_after`` consecutive readings,
    so a new event needs a quiet spell of that length (this also rate-limits events).
    O(1) state: the index of the last firing reading.
    """

    def __init__(self, clear_after: int):
        self.clear_after = clear_after
        self._last_fire = -np.inf

    def update(self, first_index: int, fire: np.ndarray) -> np.ndarray:
        """Stream-wide indices of the readings in this batch that raise the alarm."""
        idx = first_index + np.flatnonzero(fire)
        if not len(idx):
            return idx
        gaps = np.diff(idx, prepend=self._last_fire)
        self._last_fire = idx[-1]
        return idx[gaps > self.clear_after]
