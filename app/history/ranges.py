"""A time range of one line at a chart's resolution: at most ``max_points`` real readings, no spike lost.

Downsampling keeps readings, never averages: MinMaxLTTB (tsdownsample, a Rust implementation)
picks half the points on the value and half on the defect probability, so a reading that
stands out in either survives at every zoom.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, Protocol, Sequence

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler

MAX_POINTS_DEFAULT = 3000  # about two per pixel of a 1,500-px chart
MAX_POINTS_RANGE = (10, 100_000)
CANDIDATES_PER_POINT = 8  # the finest source offering at most this many readings per point answers
ROLLUP_WIDTHS = {"minute": 60.0, "hour": 3600.0}
FINER = {"minute": "raw", "hour": "minute"}

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


class RangeReader(Protocol):
    """What a history backend offers for ranges; a piece is ``lo <= ts < hi`` (raw) or its whole buckets."""

    def count(self, line: str, parts: Sequence[tuple[Source, float, float]]) -> list[tuple[int, int]]:
        """Per piece: its readings (from the rollups' counts for minute and hour) and its rows (raw: the
        readings; minute and hour: the buckets holding readings)."""

    def fetch(self, source: Source, line: str, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The piece's readings (raw) or each bucket's lowest, highest and most probable reading: ts, value, prob."""


def pieces(start: float, stop: float, source: Source) -> list[tuple[Source, float, float]]:
    """``start <= ts < stop`` cut into whole buckets of ``source`` and finer pieces at the edges."""
    if start >= stop:
        return []
    if source == "raw":
        return [("raw", start, stop)]
    width = ROLLUP_WIDTHS[source]
    lo, hi = math.ceil(start / width) * width, math.floor(stop / width) * width
    if hi <= lo:
        return pieces(start, stop, FINER[source])
    return [*pieces(start, lo, FINER[source]), (source, lo, hi), *pieces(hi, stop, FINER[source])]


def choose_source(parts: Sequence[tuple[Source, float, float]], tallies: Sequence[tuple[int, int]],
                  max_points: int) -> Source:
    """The finest source whose candidates (raw: each reading; rollups: three per bucket) stay within the
    budget for ``max_points``, from the readings and buckets the range holds (``pieces`` at hour and their
    ``RangeReader.count``), not from its length: a week holding three days is drawn per minute."""
    budget = CANDIDATES_PER_POINT * max_points
    if sum(readings for readings, _ in tallies) <= budget:
        return "raw"
    per_minute = {"raw": 1, "minute": 3, "hour": 3 * ROLLUP_WIDTHS["hour"] / ROLLUP_WIDTHS["minute"]}  # at most
    return "minute" if sum(per_minute[source] * rows for (source, _, _), (_, rows) in zip(parts, tallies)) <= budget \
        else "hour"


def points_range(reader: RangeReader, line: str, start: float, end: float, max_points: int) -> PointsRange:
    """The readings of ``line`` with ``start <= ts <= end``: counted exactly from the coarsest pieces, drawn
    from the finest source within budget, at most ``max_points`` of them, oldest first."""
    check_range(start, end, max_points)
    stop = float(np.nextafter(end, math.inf))
    coarse = pieces(start, stop, "hour")
    tallies = reader.count(line, coarse)
    readings = sum(n for n, _ in tallies)
    source = choose_source(coarse, tallies, max_points)
    parts = [reader.fetch(piece, line, lo, hi) for piece, lo, hi in pieces(start, stop, source)]
    rows = np.concatenate([np.column_stack(part) for part in parts]) if parts else np.empty((0, 3))
    if source != "raw":
        rows = np.unique(rows, axis=0)  # a bucket's lowest, highest and most probable reading may be one
    return downsampled(line, start, end, source, readings, rows[:, 0], rows[:, 1], rows[:, 2], max_points)


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
