"""A time range of one line at a chart's resolution: at most ``max_points`` real readings, no spike lost.

Downsampling keeps readings, never averages: MinMaxLTTB (tsdownsample, a Rust implementation)
picks half the points on the value and half on the defect probability, so a reading that
stands out in either survives at every zoom.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler

MAX_POINTS_DEFAULT = 3000  # about two per pixel of a 1,500-px chart
MAX_POINTS_RANGE = (10, 100_000)

Source = Literal["raw", "minute", "hour"]


class PointsRange(NamedTuple):
    """The answer for a range: ``readings`` recorded in it, shown by the points (oldest first) of ``source``."""

    line: str
    start: float
    end: float
    source: Source
    downsampled: bool
    readings: int
    ts: np.ndarray
    value: np.ndarray
    prob: np.ndarray

    def to_dict(self) -> dict:
        """The API's JSON body."""
        return {"line": self.line, "from": self.start, "to": self.end, "source": self.source,
                "downsampled": self.downsampled, "readings": self.readings,
                "points": {"ts": self.ts.tolist(), "value": self.value.tolist(), "prob": self.prob.tolist()}}


def check_range(start: float, end: float, max_points: int) -> None:
    """ValueError naming the argument when the range or ``max_points`` cannot be answered."""
    low, high = MAX_POINTS_RANGE
    if not low <= max_points <= high:
        raise ValueError(f"max_points must be between {low} and {high}")
    if start > end:
        raise ValueError("from must not be after to")


def keep_extremes(ts: np.ndarray, value: np.ndarray, prob: np.ndarray, max_points: int) -> np.ndarray:
    """Indices (ascending) of at most ``max_points`` readings that draw the same picture: MinMaxLTTB
    over the value and over the probability, half each.  ``ts`` must be ascending."""
    if len(ts) <= max_points:
        return np.arange(len(ts))
    half, x = max_points // 2, np.ascontiguousarray(ts, dtype=np.float64)
    downsampler = MinMaxLTTBDownsampler()
    picked = [downsampler.downsample(x, np.ascontiguousarray(column, dtype=np.float64), n_out=half)
              for column in (value, prob)]
    return np.union1d(*picked).astype(np.int64)


def downsampled(line: str, start: float, end: float, source: Source, readings: int, ts: np.ndarray,
                value: np.ndarray, prob: np.ndarray, max_points: int) -> PointsRange:
    """The range's answer from candidate readings (ascending ``ts``), cut to ``max_points`` when they are more."""
    keep = keep_extremes(ts, value, prob, max_points)
    cut = len(keep) < len(ts)
    return PointsRange(line, start, end, source, cut or source != "raw", readings,
                       ts[keep] if cut else ts, value[keep] if cut else value, prob[keep] if cut else prob)
