"""The ``replay`` source: a recorded CSV or Parquet file played back, for demos and incidents.

Columns: ``value`` (required), ``defect_prob``, ``ts`` (epoch seconds or ISO-8601) and
``line`` (optional).  Points keep their values and probabilities and their spacing in
time (divided by ``speed``), shifted so that the first one happens when the replay starts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from app.readings import FIELDS, InvalidPoint, Readings, validate_points
from app.sources.base import SourceHealth, ThreadedSource

STEP_S = 0.05
GAP_WITHOUT_TS_S = 1.0


def read_recording(path: Path, now: float) -> Readings:
    """The file's points, validated like any other input (the first bad row is named)."""
    frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    frame = frame[[column for column in frame.columns if column in FIELDS]]
    records = [{key: value for key, value in row.items() if not pd.isna(value)}
               for row in frame.to_dict(orient="records")]
    if not records:
        raise ValueError(f"{path} holds no points")
    for row in records:
        if isinstance(row.get("ts"), pd.Timestamp):
            row["ts"] = row["ts"].timestamp()
    try:
        readings = validate_points(records, now)
    except InvalidPoint as exc:
        raise ValueError(f"{path.name}, data row {exc.index + 1}: {exc.field} {exc.reason}") from None
    if "ts" not in frame.columns:
        readings = readings._replace(ts=np.arange(len(readings)) * GAP_WITHOUT_TS_S)
    return readings


class ReplaySource(ThreadedSource):
    name = "replay"

    def __init__(self, path: Path, ingestor, speed: float = 1.0, loop: bool = False, clock=time.time) -> None:
        super().__init__(interval=STEP_S)
        self.path = Path(path)
        self.ingestor = ingestor
        self.speed = speed
        self.loop = loop
        self.clock = clock
        self._recording: Readings | None = None
        self._offsets = np.empty(0)
        self._started_at = 0.0
        self._next = 0
        self._rounds = 0

    def health(self) -> SourceHealth:
        if self._recording is not None and self._next >= len(self._recording) and not self.loop:
            return SourceHealth("finished", f"replayed all {len(self._recording)} points of {self.path.name}")
        return super().health()

    def step(self) -> None:
        now = self.clock()
        if self._recording is None:
            self._recording = read_recording(self.path, now)
            self._offsets = (self._recording.ts - self._recording.ts.min()) / self.speed
            self._started_at = now
        due = int(np.searchsorted(self._offsets, now - self._started_at, side="right"))
        if due > self._next:
            part = slice(self._next, due)
            recording = self._recording
            self.ingestor.ingest(Readings(self._started_at + self._offsets[part], recording.value[part],
                                          recording.prob[part], recording.line[part]), durable=False)
            self._next = due
        if self._next >= len(self._recording) and self.loop:
            gap = float(np.median(np.diff(self._offsets))) if len(self._offsets) > 1 else GAP_WITHOUT_TS_S
            self._started_at += float(self._offsets[-1]) + gap
            self._next = 0
            self._rounds += 1
