"""SQLite history: points, alerts and alarms recorded in batches, reloaded on restart.

The recorder follows the store like any reader, with its own cursor, so sources and viewers
never wait on the disk; a point's alarms (app/alarms.py) are recorded with it.  Alerts are
records with a stable id: points whose probability and value exceed the configured thresholds
when they were recorded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Iterator, NamedTuple
from pathlib import Path

import numpy as np
import pandas as pd

from app.alarms import ALARM_FIELDS, RaisedAlarm
from app.points import PointBatch, Thresholds, anomaly_mask
from app.store import LineStores

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    line TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    prob REAL NOT NULL,
    PRIMARY KEY (line, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    line TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    prob REAL NOT NULL,
    prob_threshold REAL NOT NULL,
    value_threshold REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_point ON alerts (line, seq);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts);
CREATE INDEX IF NOT EXISTS points_ts ON points (ts);
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY,
    line TEXT NOT NULL,
    seq INTEGER NOT NULL,
    raised_ts REAL NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    value REAL NOT NULL,
    message TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_line_seq ON alarms (line, seq);
CREATE INDEX IF NOT EXISTS alarms_raised ON alarms (raised_ts);
"""
RETENTION_EVERY_S = 60.0
RETENTION_CHUNK = 5000


class Retention(NamedTuple):
    """How much history to keep: points younger than ``days`` and at most ``points`` per line."""

    days: float = 30.0
    points: int = 10_000_000


ALERT_COLUMNS = ("id", "seq", "line", "ts", "value", "prob", "prob_threshold", "value_threshold")


class Recorder:
    """Writes what the line stores receive to ``<data_dir>/linewatch.sqlite3``.

    A background thread flushes every ``interval`` seconds; ingest whose senders wait for
    an acknowledgement calls :meth:`ensure_recorded` before acknowledging.
    """

    def __init__(self, data_dir: Path, stores: LineStores, thresholds: Thresholds, interval: float = 1.0,
                 retention: Retention = Retention()) -> None:
        self.path = Path(data_dir) / "linewatch.sqlite3"
        self.stores = stores
        self.thresholds = thresholds
        self.interval = interval
        self.retention = retention
        self.cursors: dict[str, int] = {}
        self._schema_ready = False
        self._writer: sqlite3.Connection | None = None  # kept open: a flush a second is cheap
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash
        if not self._schema_ready:
            connection.executescript(SCHEMA)
            self._schema_ready = True
        return connection

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection for reads and maintenance; commits on success."""
        connection = self._open()
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def restore(self, n: int) -> int:
        """Load each line's newest ``n`` recorded points into its (empty) store; return how many."""
        restored = 0
        with self.connect() as db:
            lines = [row[0] for row in db.execute("SELECT DISTINCT line FROM points")]
            for line in lines:
                rows = db.execute("SELECT seq, ts, value, prob FROM points WHERE line = ? ORDER BY seq DESC LIMIT ?",
                                  (line, n)).fetchall()
                data = np.array(rows[::-1])
                seq = data[:, 0].astype(np.int64)
                gaps = np.flatnonzero(np.diff(seq) != 1)
                start = int(gaps[-1]) + 1 if len(gaps) else 0  # keep the newest contiguous run
                alarms = [RaisedAlarm(*row) for row in db.execute(
                    f"SELECT {', '.join(ALARM_FIELDS)} FROM alarms WHERE line = ? AND seq >= ? ORDER BY seq",
                    (line, int(seq[start])))]
                self.stores.get(line).load(PointBatch(seq[start:], data[start:, 1], data[start:, 2], data[start:, 3]),
                                           alarms)
                self.cursors[line] = int(seq[-1])
                restored += len(seq) - start
        return restored

    def ensure_recorded(self, seqs: dict[str, list[int]]) -> None:
        """Return once the points with these ids (per line) are on disk: this thread records them now."""
        self.flush()

    def flush(self) -> int:
        """Record everything the stores received since the last flush; return the count."""
        with self._flush_lock:
            pending, alarms = [], []
            for line, store in self.stores.items():
                cursor = self.cursors.get(line, -1)
                batch = store.since(cursor)
                if len(batch):
                    if cursor >= 0 and int(batch.seq[0]) != cursor + 1:
                        log.warning("recorder fell behind on %s: %d points were overwritten before being recorded",
                                    line, int(batch.seq[0]) - cursor - 1)
                    pending.append((line, batch))
                    alarms += store.alarms_between(int(batch.seq[0]), int(batch.seq[-1]))  # visible with the points
            if not pending:
                return 0
            if self._writer is None:
                self._writer = self._open()
            with self._writer as db:
                for line, batch in pending:
                    self._write(db, line, batch)
                db.executemany(f"INSERT OR IGNORE INTO alarms ({', '.join(ALARM_FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               alarms)
            for line, batch in pending:
                self.cursors[line] = int(batch.seq[-1])
            return sum(len(batch) for _, batch in pending)

    def _write(self, db: sqlite3.Connection, line: str, batch: PointBatch) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO points (line, seq, ts, value, prob) VALUES (?, ?, ?, ?, ?)",
            zip([line] * len(batch), batch.seq.tolist(), batch.ts.tolist(), batch.value.tolist(),
                batch.prob.tolist()),
        )
        alerts = anomaly_mask(batch, self.thresholds)
        db.executemany(
            "INSERT OR IGNORE INTO alerts (seq, line, ts, value, prob, prob_threshold, value_threshold)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((int(s), line, float(t), float(v), float(p), self.thresholds.prob, self.thresholds.value)
             for s, t, v, p in zip(batch.seq[alerts], batch.ts[alerts], batch.value[alerts], batch.prob[alerts])),
        )

    def history(self, line: str, since_ts: float | None, until_ts: float | None, limit: int) -> pd.DataFrame:
        """Recorded points of ``line`` in a time range, oldest first."""
        with self.connect() as db:
            return pd.read_sql_query(
                "SELECT seq, ts, value, prob FROM points WHERE line = ? AND ts >= ? AND ts <= ? ORDER BY seq LIMIT ?",
                db, params=(line, since_ts or 0.0, float("inf") if until_ts is None else until_ts, limit))

    def enforce_retention(self, now: float) -> int:
        """Delete points and alerts past the retention, in small transactions; return the count."""
        cutoff_ts = now - self.retention.days * 86400
        deleted = 0
        with self.connect() as db:
            lines = [row[0] for row in db.execute("SELECT DISTINCT line FROM points")]
            for line in lines:
                newest, first_recent = db.execute(
                    "SELECT MAX(seq), (SELECT MIN(seq) FROM points WHERE line = ?1 AND ts >= ?2)"
                    " FROM points WHERE line = ?1", (line, cutoff_ts)).fetchone()
                keep_from = max(newest - self.retention.points + 1, newest + 1 if first_recent is None else first_recent)
                deleted += self._delete_chunked(
                    db, "DELETE FROM points WHERE line = ?1 AND seq IN"
                        " (SELECT seq FROM points WHERE line = ?1 AND seq < ?2 LIMIT ?3)", (line, keep_from))
            deleted += self._delete_chunked(
                db, "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ts < ?1 LIMIT ?2)", (cutoff_ts,))
            deleted += self._delete_chunked(
                db, "DELETE FROM alarms WHERE id IN (SELECT id FROM alarms WHERE raised_ts < ?1 LIMIT ?2)", (cutoff_ts,))
        return deleted

    @staticmethod
    def _delete_chunked(db: sqlite3.Connection, statement: str, params: tuple) -> int:
        """Run a DELETE ... LIMIT until it deletes nothing; each chunk commits, so writers wait briefly."""
        total = 0
        while True:
            count = db.execute(statement, params + (RETENTION_CHUNK,)).rowcount
            db.commit()
            total += count
            if count < RETENTION_CHUNK:
                return total

    def alerts(self, since_ts: float | None = None, until_ts: float | None = None, limit: int = 1000) -> list[dict]:
        """Recorded alerts, newest first."""
        query = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE ts >= ? AND ts <= ? ORDER BY ts DESC LIMIT ?"
        with self.connect() as db:
            until = float("inf") if until_ts is None else until_ts
            rows = db.execute(query, (since_ts or 0.0, until, limit)).fetchall()
        return [dict(zip(ALERT_COLUMNS, row)) for row in rows]

    def alarms(self, line: str | None = None, since_ts: float | None = None, until_ts: float | None = None,
               limit: int = 1000) -> list[dict]:
        """Recorded alarms (of ``line``, or of every line) raised in a time range, oldest first."""
        query = (f"SELECT {', '.join(ALARM_FIELDS)} FROM alarms WHERE (?1 IS NULL OR line = ?1)"
                 " AND raised_ts >= ?2 AND raised_ts <= ?3 ORDER BY raised_ts, line, seq LIMIT ?4")
        with self.connect() as db:
            rows = db.execute(query, (line, since_ts or 0.0, until_ts if until_ts is not None else float("inf"),
                                      limit)).fetchall()
        return [dict(zip(ALARM_FIELDS, row)) for row in rows]

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        with self.connect():  # fail here, visibly, if the data dir is unusable
            pass
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="linewatch-recorder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        self.flush()
        with self._flush_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def _run(self) -> None:
        next_retention = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.flush()
                if time.monotonic() >= next_retention:
                    next_retention = time.monotonic() + RETENTION_EVERY_S
                    deleted = self.enforce_retention(time.time())
                    if deleted:
                        log.info("retention removed %d old rows", deleted)
            except Exception:  # the thread must outlive any failure; the next round retries
                log.exception("recording to %s failed; will retry", self.path)


def alerts_csv(alerts: list[dict]) -> str:
    """Alerts as CSV text, led by an ISO-8601 UTC time column."""
    frame = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    frame.insert(0, "time_utc", pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return frame.to_csv(index=False)
