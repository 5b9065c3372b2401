"""The ``replay`` source: a recorded CSV or Parquet file played back, for demos, incidents and
real sensor recordings.

Columns: ``value`` (required), ``defect_prob`` and ``line`` (optional) and a time column named
``ts``, ``timestamp``, ``time`` or ``datetime`` (any case; epoch seconds or ISO-8601 / dates
pandas reads, naive ones as UTC).  A file without a time column replays one reading every
``GAP_WITHOUT_TS_S`` seconds.  Points keep their values, probabilities, order and spacing in
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
TIME_COLUMNS = ("ts", "timestamp", "time", "datetime")


class BadRecording(ValueError):
    """The file cannot be replayed; the message names the file, and the row and column when one is at fault."""


def read_recording(path: Path, now: float, columns: dict[str, str] | None = None) -> Readings:
    """The file's points in file order, validated like any other input (the first bad row is named).

    ``columns`` maps LineWatch's column names (time, value, defect_prob, line) to the file's."""
    try:
        frame = _read_frame(path, (columns or {}).get("line"))
    except (OSError, ValueError, ImportError) as exc:
        raise BadRecording(f"{path.name}: cannot be read as {'Parquet' if path.suffix.lower() == '.parquet' else 'CSV'}: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if frame.empty:
        raise BadRecording(f"{path.name} holds no points")
    missing = [name for name in (columns or {}).values() if name not in frame.columns]
    if missing:
        raise BadRecording(f"{path.name}: no column {missing[0]!r}, which the lines file's [replay.columns] names "
                           f"(columns: {', '.join(map(str, frame.columns))})")
    frame = frame.rename(columns={name: field for field, name in (columns or {}).items()})
    columns = {str(column).strip().lower(): column for column in frame.columns}
    if "value" not in columns:
        raise BadRecording(f"{path.name}: no 'value' column (columns: {', '.join(map(str, frame.columns))})")
    time_column = next((columns[name] for name in TIME_COLUMNS if name in columns), None)
    ts = _epoch_seconds(frame[time_column], path, time_column) if time_column is not None else None
    kept = {name: frame[columns[name]] for name in FIELDS if name in columns and name != "ts"}
    for name in ("value", "defect_prob"):
        if name in kept and not pd.api.types.is_numeric_dtype(kept[name]):
            kept[name] = _numbers(kept[name], path, columns[name])
    records = [{key: value for key, value in row.items() if not pd.isna(value)}
               for row in pd.DataFrame(kept).to_dict(orient="records")]
    try:
        readings = validate_points(records, now)
    except InvalidPoint as exc:
        raise BadRecording(f"{path.name}, data row {exc.index + 1}: {exc.field} {exc.reason}") from None
    if ts is None:
        ts = np.arange(len(readings)) * GAP_WITHOUT_TS_S
    return Readings(ts, readings.value, readings.prob, readings.line)  # not _replace: len() counts readings


def _read_frame(path: Path, line_name: str | None) -> pd.DataFrame:
    """The file as a frame, its line column (``line_name``, else ``line`` in any case) as text:
    ids such as 1, 2 or 007 are names, not numbers."""
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        for name in _line_columns(frame.columns, line_name):
            if pd.api.types.is_integer_dtype(frame[name]):
                frame[name] = frame[name].astype("string")
        return frame
    header = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype={name: str for name in _line_columns(header, line_name)})


def _line_columns(columns, line_name: str | None) -> list:
    return [column for column in columns
            if (column == line_name if line_name else str(column).strip().lower() == "line")]


def _numbers(column: pd.Series, path: Path, name) -> pd.Series:
    """A text column of numbers as numbers; the first cell that is not one is named."""
    numbers = pd.to_numeric(column, errors="coerce")
    bad = np.flatnonzero(numbers.isna() & column.notna())
    if len(bad):
        raise BadRecording(f"{path.name}, data row {bad[0] + 1}: {name} {column.iloc[bad[0]]!r} is not a number")
    return numbers


def _epoch_seconds(column: pd.Series, path: Path, name) -> np.ndarray:
    """Epoch seconds from numbers or date-time text (naive times are UTC); the first bad row is named."""
    if pd.api.types.is_numeric_dtype(column):
        seconds = column.to_numpy(dtype=float)
    else:
        parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    bad = np.flatnonzero(~np.isfinite(seconds))
    if len(bad):
        raise BadRecording(f"{path.name}, data row {bad[0] + 1}: {name} {column.iloc[bad[0]]!r} "
                           "is neither epoch seconds nor a date and time")
    return seconds


class ReplaySource(ThreadedSource):
    name = "replay"

    def __init__(self, path: Path, ingestor, speed: float = 1.0, loop: bool = False, clock=time.time,
                 columns: dict[str, str] | None = None) -> None:
        super().__init__(interval=STEP_S)
        self.path = Path(path)
        self.columns = columns
        self.ingestor = ingestor
        self.speed = speed
        self.loop = loop
        self.clock = clock
        self._recording: Readings | None = None
        self._offsets = np.empty(0)  # each reading's time after the first, scaled by speed (clock steps kept)
        self._due = np.empty(0)  # when each reading is played: the offsets made non-decreasing
        self._started_at = 0.0
        self._next = 0

    def health(self) -> SourceHealth:
        if self._recording is not None and self._next >= len(self._recording) and not self.loop:
            return SourceHealth("finished", f"replayed all {len(self._recording)} points of {self.path.name}")
        return super().health()

    def step(self) -> None:
        now = self.clock()
        if self._recording is None:
            self._recording = read_recording(self.path, now, self.columns)
            self._offsets = (self._recording.ts - self._recording.ts[0]) / self.speed
            self._due = np.maximum.accumulate(self._offsets)
            self._started_at = now
        due = int(np.searchsorted(self._due, now - self._started_at, side="right"))
        if due > self._next:
            part = slice(self._next, due)
            recording = self._recording
            self.ingestor.ingest(Readings(self._started_at + self._offsets[part], recording.value[part],
                                          recording.prob[part], recording.line[part]), durable=False)
            self._next = due
        if self._next >= len(self._recording) and self.loop:
            gap = float(np.median(np.diff(self._due))) if len(self._due) > 1 else GAP_WITHOUT_TS_S
            self._started_at += float(self._due[-1]) + gap
            self._next = 0
