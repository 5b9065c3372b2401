"""A value held for longer than the signal has ever held one: a stuck sensor or a frozen feed.

A noisy signal never repeats a reading exactly; one that idles at zero holds it for hours. So the
hold that is anomalous is measured against the signal's own longest hold so far: a run of identical
readings fires once it is ``minimum`` readings long and ``ratio`` times the longest run that ended
before it. Until the signal has changed once there is no such run, and nothing to judge a hold by.
O(1) state: the value held, the length of its run, the longest run that ended (0: none yet).
"""

from __future__ import annotations

import numpy as np


class StuckWatch:
    """Per reading, whether its value has been held too long, and for how many readings."""

    def __init__(self, ratio: float, minimum: int):
        self.ratio, self.minimum = ratio, minimum
        self._held, self._run, self._longest = float("nan"), 0, 0

    def update(self, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether each reading of a batch fires, and its run length (this reading included)."""
        if not len(value):
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
        at = np.arange(len(value))
        starts = np.empty(len(value), dtype=bool)  # a reading that starts a run
        starts[0] = value[0] != self._held
        starts[1:] = value[1:] != value[:-1]
        run_start = np.maximum.accumulate(np.where(starts, at, -1))  # -1: the run carried in
        runs = np.where(run_start >= 0, at - run_start + 1, self._run + at + 1)
        before = np.concatenate(([self._run], runs[:-1]))  # the run each reading follows
        longest = np.maximum(self._longest, np.maximum.accumulate(np.where(starts, before, 0)))
        self._held, self._run, self._longest = float(value[-1]), int(runs[-1]), int(longest[-1])
        return (longest > 0) & (runs >= self.minimum) & (runs >= self.ratio * longest), runs
