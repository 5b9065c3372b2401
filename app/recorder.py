"""SQLite history: points, alerts and alarms recorded in batches, reloaded on restart.

The recorder follows the store like any reader, with its own cursor, so sources and viewers
never wait on the disk; a point's alarms (app/alarms.py) are recorded with it.  Alerts are
records with a stable id: points whose probability and value exceed the configured thresholds
when they were recorded.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Iterator, NamedTuple, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from app.alarms import ALARM_FIELDS, RaisedAlarm
from app.config import ConfigError
from app.history import ranges, rollups
from app.history.sql_ranges import SqlRanges
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
CREATE INDEX IF NOT EXISTS points_line_ts ON points (line, ts);
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
{rollup_minute};
{rollup_hour};
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    seqs TEXT NOT NULL
) WITHOUT ROWID;
""".format(rollup_minute=rollups.schema("rollup_minute") + " WITHOUT ROWID",
           rollup_hour=rollups.schema("rollup_hour") + " WITHOUT ROWID")
SCHEMA_VERSION = 1  # PRAGMA user_version: 1 = points with per-minute and per-hour rollups
KEY_TTL_S = 24 * 3600  # how long an Idempotency-Key's answer is kept (written with the request's points)
PROBE = ("CREATE TABLE IF NOT EXISTS probe (bytes BLOB)", "DELETE FROM probe",
         "INSERT INTO probe VALUES (zeroblob(16384))")  # a write that needs a few pages of room
LOW_SPACE_BYTES = 64 * 1024  # below this the data dir counts as full
RETENTION_EVERY_S = 60.0
# The write-ahead log is cut back to this once checkpointed (SQLite's auto-checkpoint keeps it near
# 1000 pages, about 4 MiB); without it the file keeps the size of its largest burst (a retention pass
# while a reader held an old snapshot), so the history's footprint only ever steps up.
WAL_LIMIT_BYTES = 4 * 1024 * 1024
RETENTION_CHUNK = 5000


class HistoryUnavailable(RuntimeError):
    """The history cannot be written now (disk full, read-only, broken file); one short line why."""


class DataDirUnusable(ConfigError):
    """LINEWATCH_DATA_DIR cannot hold the history at start-up; the message names it and the cause."""


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
        self.problem = ""  # why the last write failed, until one succeeds ("" while the history is writable)
        self.missed: dict[str, int] = {}  # per line: points overwritten in the store before being recorded
        self._behind: set[str] = set()  # lines whose last flush found such a gap (logged once per episode)
        self._schema_ready = False
        self._writer: sqlite3.Connection | None = None  # kept open: a flush a second is cheap
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash
            connection.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            if not self._schema_ready:
                connection.executescript(SCHEMA)
                if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    with connection:  # a history written before the rollups: build them once
                        rollups.rebuild(connection)
                        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self._schema_ready = True
        except BaseException:
            connection.close()
            raise
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

    def check(self) -> None:
        """Prove at start-up that the data dir can hold the history (created, opened, written to);
        DataDirUnusable names LINEWATCH_DATA_DIR and the cause."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path.parent):  # the OS's reason first (read-only, permissions)
                pass
            with self.connect() as db:
                for statement in PROBE:
                    db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise DataDirUnusable(f"LINEWATCH_DATA_DIR={self.path.parent} cannot hold the history "
                                  f"({self.path.name}): {_cause(exc)}") from None

    def write_ahead(self, planned, keys: Sequence[str] = ()) -> None:
        """Write readings before they are appended, with everything pending, in one transaction.

        ``planned``: for each line, an object with ``line``, ``store``, ``ts``, ``value``,
        ``prob`` and ``alarms`` (drafts); their ids are those the line's store gives next (the
        caller appends them next, holding the only append lock).  ``keys`` (idempotency keys)
        are kept with them (see :meth:`answered`).  Raises HistoryUnavailable when the disk
        refuses: then nothing is written, so nothing may be appended.
        """
        with self._flush_lock:
            pending, alarms, ids = *self._pending(), {}
            for part in planned:
                first = part.store.stats().next_seq
                pending.append((part.line, PointBatch(np.arange(first, first + len(part.ts), dtype=np.int64),
                                                      part.ts, part.value, part.prob)))
                alarms += [draft.raised(first) for draft in part.alarms]
                ids[part.line] = list(range(first, first + len(part.ts)))
            self._commit(pending, alarms, dict.fromkeys(keys, ids))

    def ensure_recorded(self, seqs: dict[str, list[int]], keys: Sequence[str] = ()) -> None:
        """Nothing left to do: ``write_ahead`` put these points (and keys) on disk before they were appended."""

    def answered(self, keys: Sequence[str]) -> dict[str, list[int]] | None:
        """When every key was recorded in the last 24 h, the ids recorded with the first (the
        request's answer), else None; HistoryUnavailable if the history cannot be read."""
        found = self._recorded(keys)
        if len(found) < len(set(keys)):
            return None
        return {line: list(range(first, last + 1)) for line, (first, last) in json.loads(found[keys[0]]).items()}

    def recorded(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` recorded in the last 24 h."""
        return set(self._recorded(keys))

    def _recorded(self, keys: Sequence[str]) -> dict[str, str]:
        """Each of ``keys`` recorded in the last 24 h, with the ids recorded with it (JSON)."""
        if not keys:
            return {}
        query = (f"SELECT key, seqs FROM idempotency WHERE key IN ({', '.join('?' * len(keys))})"
                 " AND created >= ?")
        with self._flush_lock:
            try:
                return dict(self._writer_connection().execute(query, (*keys, time.time() - KEY_TTL_S)).fetchall())
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)

    def flush(self, keys: dict[str, dict[str, list[int]]] | None = None) -> int:
        """Record everything the stores received since the last flush (and ``keys``: idempotency
        keys with the ids of their points, all held by the stores); return the count of points.

        While the history is unwritable, each call tries a small write, so it recovers by itself.
        """
        with self._flush_lock:
            pending, alarms = self._pending()
            if pending or keys or self.problem:
                self._commit(pending, alarms, keys or {})
            return sum(len(batch) for _, batch in pending)

    def _pending(self) -> tuple[list[tuple[str, PointBatch]], list[RaisedAlarm]]:
        """What the stores hold after each line's cursor, with those points' alarms."""
        pending, alarms = [], []
        for line, store in self.stores.items():
            cursor = self.cursors.get(line, -1)
            batch = store.since(cursor)
            if len(batch):
                self._note_gap(line, int(batch.seq[0]) - cursor - 1)
                pending.append((line, batch))
                alarms += store.alarms_between(int(batch.seq[0]), int(batch.seq[-1]))  # visible with the points
        return pending, alarms

    def _commit(self, pending: list[tuple[str, PointBatch]], alarms: list[RaisedAlarm],
                keys: dict[str, dict[str, list[int]]]) -> None:
        """Write points, alarms and idempotency keys in one transaction and move the cursors;
        HistoryUnavailable if it fails."""
        try:
            with self._writer_connection() as db:
                for line, batch in pending:
                    self._write(db, line, batch)
                db.executemany(f"INSERT OR IGNORE INTO alarms ({', '.join(ALARM_FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               alarms)
                db.executemany("INSERT OR REPLACE INTO idempotency (key, created, seqs) VALUES (?, ?, ?)",
                               [(key, time.time(), json.dumps({line: [ids[0], ids[-1]] for line, ids in seqs.items()
                                                               if ids})) for key, seqs in keys.items()])
                if self.problem:
                    for statement in PROBE:
                        db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
        if self.problem:
            log.warning("history in %s is writable again", self.path)
            self.problem = ""
        for line, batch in pending:
            self.cursors[line] = int(batch.seq[-1])

    def _writer_connection(self) -> sqlite3.Connection:
        """The connection kept open for writes (and the idempotency lookups), opened on first use."""
        if self._writer is None:
            self._writer = self._open()
        return self._writer

    def _describe(self, exc: Exception) -> str:
        """The error as one line, saying so when the data dir's filesystem is full (SQLite may only
        say "disk I/O error")."""
        try:
            full = shutil.disk_usage(self.path.parent).free < LOW_SPACE_BYTES
        except OSError:
            full = False
        return f"{_cause(exc)}; no space left in {self.path.parent}" if full else _cause(exc)

    def _failed(self, exc: Exception) -> None:
        """Remember why writing failed (logged when it starts), drop the connection, raise HistoryUnavailable."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None  # the next try opens afresh (the file may have been replaced or repaired)
        problem = self._describe(exc)
        if not self.problem:
            log.error("cannot write the history to %s: %s; ingest is refused until it can", self.path, problem)
        self.problem = problem
        raise HistoryUnavailable(f"history not writable: {problem}") from None

    def make_room(self, line: str, store, n: int) -> None:
        """Record the pending points now if appending ``n`` (at most the capacity) more to the line
        would overwrite some of them; HistoryUnavailable if that fails.

        The ingest path calls this before an append, so the ring buffer never drops a point the
        recorder has not written: the writer waits for the disk instead.
        """
        if store.stats().next_seq + n - store.capacity > self.cursors.get(line, -1) + 1:
            self.flush()

    def _note_gap(self, line: str, missed: int) -> None:
        """Count points the store dropped before they were recorded; warn once per episode."""
        if missed <= 0:
            self._behind.discard(line)
            return
        self.missed[line] = self.missed.get(line, 0) + missed
        if line not in self._behind:
            self._behind.add(line)
            log.warning("recorder fell behind on %s: %d points were overwritten before being recorded "
                        "(%d so far)", line, missed, self.missed[line])

    def health(self) -> dict:
        """The /readyz detail of the history: where it is, whether it is writable (and why not)
        and, per line, the points it never recorded."""
        state = {"state": "unwritable", "message": self.problem} if self.problem else {"state": "ok"}
        return {"path": str(self.path), **state, "missed": dict(self.missed), "behind": sorted(self._behind)}

    def _write(self, db: sqlite3.Connection, line: str, batch: PointBatch) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO points (line, seq, ts, value, prob) VALUES (?, ?, ?, ?, ?)",
            zip([line] * len(batch), batch.seq.tolist(), batch.ts.tolist(), batch.value.tolist(),
                batch.prob.tolist()),
        )
        for level, table in rollups.TABLES.items():
            db.executemany(rollups.upsert(table), rollups.rollup_rows(line, batch.ts, batch.value, batch.prob,
                                                                      rollups.WIDTHS[level]))
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

    def points_range(self, line: str, start: float, end: float, max_points: int) -> ranges.PointsRange:
        """The readings of ``line`` with ``start <= ts <= end``, at most ``max_points`` of them, oldest
        first (app/history/ranges.py); ValueError for a bad range, HistoryUnavailable when unreadable."""
        ranges.check_range(start, end, max_points)
        try:
            with self.connect() as db:
                return ranges.points_range(SqlRanges(db), line, start, end, max_points)
        except (sqlite3.Error, OSError) as exc:
            raise HistoryUnavailable(f"history unavailable: {_cause(exc)}") from None

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
                removed = self._delete_chunked(
                    db, "DELETE FROM points WHERE line = ?1 AND seq IN"
                        " (SELECT seq FROM points WHERE line = ?1 AND seq < ?2 LIMIT ?3)", (line, keep_from))
                deleted += removed
                if removed:
                    rollups.trim(db, line, db.execute("SELECT MIN(ts) FROM points WHERE line = ?",
                                                      (line,)).fetchone()[0])
                    db.commit()
            deleted += self._delete_chunked(
                db, "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ts < ?1 LIMIT ?2)", (cutoff_ts,))
            deleted += self._delete_chunked(
                db, "DELETE FROM alarms WHERE id IN (SELECT id FROM alarms WHERE raised_ts < ?1 LIMIT ?2)", (cutoff_ts,))
            self._delete_chunked(db, "DELETE FROM idempotency WHERE key IN"
                                     " (SELECT key FROM idempotency WHERE created < ?1 LIMIT ?2)", (now - KEY_TTL_S,))
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
        try:
            self.flush()
        except HistoryUnavailable:
            log.error("stopping with points not recorded: %s", self.problem)
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
            except HistoryUnavailable:
                pass  # logged when it began; the next round tries again
            except Exception:  # the thread must outlive any failure; the next round retries
                log.exception("recording to %s failed; will retry", self.path)


def _cause(exc: Exception) -> str:
    """An OS or SQLite error as one short line (e.g. "database or disk is full")."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def alerts_csv(alerts: list[dict]) -> str:
    """Alerts as CSV text, led by an ISO-8601 UTC time column."""
    frame = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    frame.insert(0, "time_utc", pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return frame.to_csv(index=False)
