"""SQLite history: points, alerts and alarms recorded in batches, reloaded on restart.

The recorder follows the store like any reader, with its own cursor, so sources and viewers
never wait on the disk; a point's alarms (app/alarms.py) are recorded with it.  Alerts are
records with a stable id: points whose probability and value exceed the configured thresholds
when they were recorded.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import tempfile
import threading
import time
from typing import Iterator, NamedTuple, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from app.alarms import ALARM_FIELDS, RaisedAlarm
from app.config import ConfigError
from app.history import ranges, rollups
from app.history.backends import HistoryBackend, PostgresBackend, SqliteBackend
from app.history.sql_ranges import SqlRanges
from app.points import PointBatch, Thresholds, anomaly_mask
from app.store import LineStores

log = logging.getLogger(__name__)

KEY_TTL_S = 24 * 3600  # how long an Idempotency-Key's answer is kept (written with the request's points)
LOW_SPACE_BYTES = 64 * 1024  # below this the data dir counts as full
RETENTION_EVERY_S = 60.0
RETENTION_CHUNK = 5000
LINES = "SELECT DISTINCT line FROM rollup_hour"  # the lines with points: a few rows a line and day, not every point


class HistoryUnavailable(RuntimeError):
    """The history cannot be written now (disk full, read-only, broken file); one short line why."""


class DataDirUnusable(ConfigError):
    """LINEWATCH_DATA_DIR cannot hold the history at start-up; the message names it and the cause."""


class HistoryUnreachable(ConfigError):
    """The PostgreSQL history of ``LINEWATCH_HISTORY_URL`` cannot be reached at start-up."""


class Retention(NamedTuple):
    """How much history to keep: points younger than ``days`` and at most ``points`` per line."""

    days: float = 30.0
    points: int = 10_000_000


ALERT_COLUMNS = ("id", "seq", "line", "ts", "value", "prob", "prob_threshold", "value_threshold")


class Recorder:
    """Writes what the line stores receive to the history: ``<data_dir>/linewatch.sqlite3``, or the
    PostgreSQL database of ``history_url`` (app/history/backends.py).

    A background thread flushes every ``interval`` seconds; ingest whose senders wait for
    an acknowledgement calls :meth:`ensure_recorded` before acknowledging.
    """

    def __init__(self, data_dir: Path, stores: LineStores, thresholds: Thresholds, interval: float = 1.0,
                 retention: Retention = Retention(), history_url: str = "") -> None:
        self.path = Path(data_dir) / "linewatch.sqlite3"  # the SQLite history (and the alarm ledger's file)
        self.backend: HistoryBackend = PostgresBackend(history_url) if history_url else SqliteBackend(self.path)
        self.stores = stores
        self.thresholds = thresholds
        self.interval = interval
        self.retention = retention
        self.cursors: dict[str, int] = {}
        self.problem = ""  # why the last write failed, until one succeeds ("" while the history is writable)
        self.missed: dict[str, int] = {}  # per line: points overwritten in the store before being recorded
        self._behind: set[str] = set()  # lines whose last flush found such a gap (logged once per episode)
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self):
        """A short-lived connection (a transaction) for reads and maintenance; commits on success.
        Queries use ``self.backend.p`` as the placeholder."""
        return self.backend.reading()

    def restore(self, n: int) -> int:
        """Load each line's newest ``n`` recorded points into its (empty) store; return how many."""
        restored, p = 0, self.backend.p
        with self.connect() as db:
            lines = [row[0] for row in db.execute(LINES).fetchall()]
            for line in lines:
                rows = db.execute(f"SELECT seq, ts, value, prob FROM points WHERE line = {p} ORDER BY seq DESC"
                                  f" LIMIT {p}", (line, n)).fetchall()
                if not rows:
                    continue
                data = np.array(rows[::-1])
                seq = data[:, 0].astype(np.int64)
                gaps = np.flatnonzero(np.diff(seq) != 1)
                start = int(gaps[-1]) + 1 if len(gaps) else 0  # keep the newest contiguous run
                alarms = [RaisedAlarm(*row) for row in db.execute(
                    f"SELECT {', '.join(ALARM_FIELDS)} FROM alarms WHERE line = {p} AND seq >= {p} ORDER BY seq",
                    (line, int(seq[start]))).fetchall()]
                self.stores.get(line).load(PointBatch(seq[start:], data[start:, 1], data[start:, 2], data[start:, 3]),
                                           alarms)
                self.cursors[line] = int(seq[-1])
                restored += len(seq) - start
        return restored

    def check(self) -> None:
        """Prove at start-up that the history can be written: the data dir (created, opened, written
        to; DataDirUnusable names LINEWATCH_DATA_DIR and the cause) and, with a history URL, the
        PostgreSQL database (HistoryUnreachable names the URL, password hidden, and the cause).
        Once started, a database that goes away refuses ingest and readiness says why."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path.parent):  # the OS's reason first (read-only, permissions)
                pass
            if isinstance(self.backend, SqliteBackend):
                with self.connect() as db:
                    self.backend.probe(db)
        except (*SqliteBackend.errors,) as exc:
            raise DataDirUnusable(f"LINEWATCH_DATA_DIR={self.path.parent} cannot hold the history "
                                  f"({self.path.name}): {_cause(exc)}") from None
        if isinstance(self.backend, PostgresBackend):
            try:
                self.backend.connect_once()
            except self.backend.errors as exc:
                raise HistoryUnreachable(f"LINEWATCH_HISTORY_URL={self.backend.where} cannot be reached: "
                                         f"{_cause(exc)}") from None

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
        p = self.backend.p
        query = f"SELECT key, seqs FROM idempotency WHERE key IN ({', '.join([p] * len(keys))}) AND created >= {p}"
        with self._flush_lock:
            try:
                with self.backend.writing() as db:
                    return dict(db.execute(query, (*keys, time.time() - KEY_TTL_S)).fetchall())
            except self.backend.errors as exc:
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
        p = self.backend.p
        try:
            with self.backend.writing() as db:
                for line, batch in pending:
                    self._write(db, line, batch)
                if alarms:
                    db.cursor().executemany(f"INSERT INTO alarms ({', '.join(ALARM_FIELDS)}) VALUES"
                                            f" ({', '.join([p] * len(ALARM_FIELDS))}) ON CONFLICT DO NOTHING", alarms)
                if keys:
                    db.cursor().executemany(
                        f"INSERT INTO idempotency (key, created, seqs) VALUES ({p}, {p}, {p}) ON CONFLICT (key)"
                        " DO UPDATE SET created = excluded.created, seqs = excluded.seqs",
                        [(key, time.time(), json.dumps({line: [ids[0], ids[-1]] for line, ids in seqs.items() if ids}))
                         for key, seqs in keys.items()])
                if self.problem:
                    self.backend.probe(db)
        except self.backend.errors as exc:
            self._failed(exc)
        if self.problem:
            log.warning("history in %s is writable again", self.backend.where)
            self.problem = ""
        for line, batch in pending:
            self.cursors[line] = int(batch.seq[-1])

    def _describe(self, exc: Exception) -> str:
        """The error as one line, saying so when the data dir's filesystem is full (SQLite may only
        say "disk I/O error")."""
        if not isinstance(self.backend, SqliteBackend):
            return _cause(exc)
        try:
            full = shutil.disk_usage(self.path.parent).free < LOW_SPACE_BYTES
        except OSError:
            full = False
        return f"{_cause(exc)}; no space left in {self.path.parent}" if full else _cause(exc)

    def _failed(self, exc: Exception) -> None:
        """Remember why writing failed (logged when it starts), raise HistoryUnavailable (the backend
        dropped the connection: the next try opens afresh)."""
        problem = self._describe(exc)
        if not self.problem:
            log.error("cannot write the history to %s: %s; ingest is refused until it can", self.backend.where, problem)
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
        return {"path": self.backend.where, **state, "missed": dict(self.missed), "behind": sorted(self._behind)}

    def _write(self, db, line: str, batch: PointBatch) -> None:
        """A line's points with their rollups and alerts, in the caller's transaction."""
        p, cursor = self.backend.p, db.cursor()
        self.backend.insert_points(cursor, line, batch.seq, batch.ts, batch.value, batch.prob)
        for level, table in rollups.TABLES.items():
            cursor.executemany(rollups.upsert(table, p), rollups.rollup_rows(line, batch.ts, batch.value, batch.prob,
                                                                             rollups.WIDTHS[level]))
        alerts = anomaly_mask(batch, self.thresholds)
        if alerts.any():
            cursor.executemany(
                "INSERT INTO alerts (seq, line, ts, value, prob, prob_threshold, value_threshold)"
                f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
                [(int(s), line, float(t), float(v), float(pr), self.thresholds.prob, self.thresholds.value)
                 for s, t, v, pr in zip(batch.seq[alerts], batch.ts[alerts], batch.value[alerts], batch.prob[alerts])])

    def history(self, line: str, since_ts: float | None, until_ts: float | None, limit: int) -> Iterator[pd.DataFrame]:
        """Recorded points of ``line`` in a time range, oldest first, in frames of a chunk each (seq,
        ts, value, prob): read as they are sent, never all at once.  HistoryUnavailable (before the
        first frame) when the history cannot be read."""
        p = self.backend.p
        chunks = self.backend.stream(
            f"SELECT seq, ts, value, prob FROM points WHERE line = {p} AND ts >= {p} AND ts <= {p} ORDER BY ts, seq"
            f" LIMIT {p}", (line, since_ts or 0.0, float("inf") if until_ts is None else until_ts, limit))
        try:
            first = next(chunks, [])
        except self.backend.errors as exc:
            raise HistoryUnavailable(f"history unavailable: {_cause(exc)}") from None
        return _frames(first, chunks)

    def points_range(self, line: str, start: float, end: float, max_points: int) -> ranges.PointsRange:
        """The readings of ``line`` with ``start <= ts <= end``, at most ``max_points`` of them, oldest
        first (app/history/ranges.py); ValueError for a bad range, HistoryUnavailable when unreadable."""
        ranges.check_range(start, end, max_points)
        try:
            with self.connect() as db:
                return ranges.points_range(SqlRanges(self.backend.numbers(db), self.backend.p), line, start, end,
                                           max_points)
        except self.backend.errors as exc:
            raise HistoryUnavailable(f"history unavailable: {_cause(exc)}") from None

    def enforce_retention(self, now: float) -> int:
        """Delete points and alerts past the retention, in small transactions; return the count."""
        cutoff_ts = now - self.retention.days * 86400
        deleted, p = 0, self.backend.p
        with self.connect() as db:
            lines = [row[0] for row in db.execute(LINES).fetchall()]
            for line in lines:
                newest, first_recent = db.execute(
                    f"SELECT MAX(seq), (SELECT MIN(seq) FROM points WHERE line = {p} AND ts >= {p})"
                    f" FROM points WHERE line = {p}", (line, cutoff_ts, line)).fetchone()
                if newest is None:
                    continue
                keep_from = max(newest - self.retention.points + 1, newest + 1 if first_recent is None else first_recent)
                removed = self._delete_points(db, line, keep_from)
                deleted += removed
                if removed:
                    rollups.trim(db, line, db.execute(f"SELECT MIN(ts) FROM points WHERE line = {p}",
                                                      (line,)).fetchone()[0], p)
                    db.commit()
            deleted += self._delete_chunked(
                db, f"DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE ts < {p} LIMIT {p})", (cutoff_ts,))
            deleted += self._delete_chunked(
                db, f"DELETE FROM alarms WHERE id IN (SELECT id FROM alarms WHERE raised_ts < {p} LIMIT {p})",
                (cutoff_ts,))
            self._delete_chunked(db, f"DELETE FROM idempotency WHERE key IN"
                                     f" (SELECT key FROM idempotency WHERE created < {p} LIMIT {p})",
                                 (now - KEY_TTL_S,))
        return deleted

    def _delete_points(self, db, line: str, keep_from: int) -> int:
        """Delete a line's points before seq ``keep_from`` in ranges of RETENTION_CHUNK seqs, each committed.
        (Ranges of the key, not ``seq IN (SELECT ... LIMIT n)``: PostgreSQL scanned that from the start of the
        table each time, through the rows deleted before, and took longer than 16 minutes for one day.)"""
        p, total = self.backend.p, 0
        oldest = db.execute(f"SELECT MIN(seq) FROM points WHERE line = {p}", (line,)).fetchone()[0]
        for start in range(keep_from if oldest is None else oldest, keep_from, RETENTION_CHUNK):
            total += db.execute(f"DELETE FROM points WHERE line = {p} AND seq >= {p} AND seq < {p}",
                                (line, start, min(start + RETENTION_CHUNK, keep_from))).rowcount
            db.commit()
        return total

    @staticmethod
    def _delete_chunked(db, statement: str, params: tuple) -> int:
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
        p = self.backend.p
        query = (f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE ts >= {p} AND ts <= {p}"
                 f" ORDER BY ts DESC LIMIT {p}")
        with self.connect() as db:
            until = float("inf") if until_ts is None else until_ts
            rows = db.execute(query, (since_ts or 0.0, until, limit)).fetchall()
        return [dict(zip(ALERT_COLUMNS, row)) for row in rows]

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        if isinstance(self.backend, SqliteBackend):
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
            self.backend.close()

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


def _frames(first: list[tuple], rest: Iterator[list[tuple]]) -> Iterator[pd.DataFrame]:
    """Chunks of point rows as frames (seq int64; ts, value, prob float64); the first maybe empty."""
    for rows in itertools.chain([first], rest):
        data = np.array(rows, dtype=np.float64).reshape(-1, 4)
        yield pd.DataFrame({"seq": data[:, 0].astype(np.int64), "ts": data[:, 1], "value": data[:, 2],
                            "prob": data[:, 3]})


def alerts_csv(alerts: list[dict]) -> str:
    """Alerts as CSV text, led by an ISO-8601 UTC time column."""
    frame = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    frame.insert(0, "time_utc", pd.to_datetime(frame["ts"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return frame.to_csv(index=False)
