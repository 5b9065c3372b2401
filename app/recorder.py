"""SQLite history: points and alerts recorded in batches, reloaded on restart.

The recorder follows the store like any reader, with its own cursor, so sources and
viewers never wait on the disk.  Alerts are records with a stable id: points whose
probability and value exceed the configured thresholds when they were recorded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from app.points import DEFAULT_LINE, PointBatch, Thresholds, anomaly_mask

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    seq INTEGER PRIMARY KEY,
    line TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    prob REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL UNIQUE,
    line TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    prob REAL NOT NULL,
    prob_threshold REAL NOT NULL,
    value_threshold REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts);
"""
ALERT_COLUMNS = ("id", "seq", "line", "ts", "value", "prob", "prob_threshold", "value_threshold")


class Recorder:
    """Writes what the store receives to ``<data_dir>/linewatch.sqlite3`` every ``interval`` s."""

    def __init__(self, data_dir: Path, store, thresholds: Thresholds, interval: float = 1.0,
                 line: str = DEFAULT_LINE) -> None:
        self.path = Path(data_dir) / "linewatch.sqlite3"
        self.store = store
        self.thresholds = thresholds
        self.interval = interval
        self.line = line
        self.cursor = -1
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
        return connection

    def restore(self, n: int) -> int:
        """Load the newest ``n`` recorded points into the (empty) store; return how many."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT seq, ts, value, prob FROM points WHERE line = ? ORDER BY seq DESC LIMIT ?",
                (self.line, n),
            ).fetchall()
        if not rows:
            return 0
        data = np.array(rows[::-1])
        seq = data[:, 0].astype(np.int64)
        gaps = np.flatnonzero(np.diff(seq) != 1)
        start = int(gaps[-1]) + 1 if len(gaps) else 0  # keep the newest contiguous run
        self.store.load(PointBatch(seq[start:], data[start:, 1], data[start:, 2], data[start:, 3]))
        self.cursor = int(seq[-1])
        return len(seq) - start

    def flush(self) -> int:
        """Record everything the store received since the last flush; return the count."""
        with self._flush_lock:
            batch = self.store.since(self.cursor)
            if not len(batch):
                return 0
            if int(batch.seq[0]) != self.cursor + 1 and self.cursor >= 0:
                log.warning("recorder fell behind: %d points were overwritten before being recorded",
                            int(batch.seq[0]) - self.cursor - 1)
            alerts = anomaly_mask(batch, self.thresholds)
            with self.connect() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO points (seq, line, ts, value, prob) VALUES (?, ?, ?, ?, ?)",
                    zip(batch.seq.tolist(), [self.line] * len(batch), batch.ts.tolist(),
                        batch.value.tolist(), batch.prob.tolist()),
                )
                db.executemany(
                    "INSERT OR IGNORE INTO alerts (seq, line, ts, value, prob, prob_threshold, value_threshold)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ((int(s), self.line, float(t), float(v), float(p), self.thresholds.prob, self.thresholds.value)
                     for s, t, v, p in zip(batch.seq[alerts], batch.ts[alerts], batch.value[alerts], batch.prob[alerts])),
                )
            self.cursor = int(batch.seq[-1])
            return len(batch)

    def alerts(self, since_ts: float | None = None, until_ts: float | None = None, limit: int = 1000) -> list[dict]:
        """Recorded alerts, newest first."""
        query = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE ts >= ? AND ts <= ? ORDER BY ts DESC LIMIT ?"
        with self.connect() as db:
            rows = db.execute(query, (since_ts or 0.0, until_ts or float("inf"), limit)).fetchall()
        return [dict(zip(ALERT_COLUMNS, row)) for row in rows]

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self.connect().close()  # fail here, visibly, if the data dir is unusable
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="linewatch-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except sqlite3.Error:
                log.exception("recording to %s failed; will retry", self.path)


def alerts_csv(alerts: list[dict]) -> str:
    """Alerts as CSV text, led by an ISO-8601 UTC time column."""
    frame = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    frame.insert(0, "time_utc", pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return frame.to_csv(index=False)
