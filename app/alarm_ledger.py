"""The alarm book's ledger in the SQLite history (``recorder.path``), in tables of its own.

Each change is one ``BEGIN IMMEDIATE`` transaction: read the record, apply the lifecycle
function, write the record, the open-alarm index and the journal entry; so two processes over
the same file (or threads of one) never open two alarms for one (line, rule).  Records and
journal survive a restart.

Disk failures follow the recorder's convention (app/recorder.py): the first failure is logged
once and kept in ``problem`` until a write succeeds again, the connection is dropped (the next
call opens afresh) and the failed call raises LedgerUnavailable (nothing changed): the book
holds the detectors' raises in memory and books them once the disk takes them, operators'
actions answer 503.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from app.alarm_book import Change, LedgerUnavailable, UnknownAlarm
from app.alarm_codec import record_from_json, record_to_json
from app.alarm_lifecycle import AlarmRecord, JournalEntry, Step

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_records (
    id TEXT PRIMARY KEY,
    line TEXT NOT NULL,
    raised_ts REAL NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarm_records_raised ON alarm_records (raised_ts, id);
CREATE TABLE IF NOT EXISTS alarm_open (
    line TEXT NOT NULL,
    rule TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (line, rule)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarm_journal (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    user TEXT NOT NULL,
    comment TEXT NOT NULL,
    state TEXT NOT NULL,
    reading_ts REAL
);
CREATE INDEX IF NOT EXISTS alarm_journal_alarm ON alarm_journal (alarm_id, n);
CREATE TABLE IF NOT EXISTS alarm_mirror (
    source TEXT PRIMARY KEY,
    cursor TEXT NOT NULL
) WITHOUT ROWID;
"""
JOURNAL_COLUMNS = ", ".join(JournalEntry._fields)


class SqliteLedger:
    """Alarm records and journal in the SQLite file ``path`` (WAL; shared with the recorder)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.problem = ""  # why the last access failed, until a write succeeds
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def change_open(self, line: str, rule: str, change: Change) -> Step | None:
        with self._transaction() as db:
            row = db.execute("SELECT id FROM alarm_open WHERE line = ? AND rule = ?", (line, rule)).fetchone()
            return self._store(db, change(self._record(db, row[0]) if row else None))

    def change(self, alarm_id: str, change: Change) -> Step | None:
        with self._transaction() as db:
            current = self._record(db, alarm_id)
            if current is None:
                raise UnknownAlarm(alarm_id)
            return self._store(db, change(current))

    def mirror(self, source: str, steps: Iterable[Step], cursor: str) -> None:
        """Write steps another ledger committed, with how far ``source`` has been copied, in one transaction
        (app/ingest/alarm_mirror.py: the ingest worker's copy of the Redis book)."""
        with self._transaction() as db:
            for step in steps:
                self._store(db, step)
            db.execute("INSERT OR REPLACE INTO alarm_mirror (source, cursor) VALUES (?, ?)", (source, cursor))

    def mirrored(self, source: str) -> str | None:
        """How far ``source`` has been copied (the cursor last given to ``mirror``), if at all."""
        with self._transaction(write=False) as db:
            row = db.execute("SELECT cursor FROM alarm_mirror WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def record(self, alarm_id: str) -> AlarmRecord | None:
        with self._transaction(write=False) as db:
            return self._record(db, alarm_id)

    def open_records(self) -> list[AlarmRecord]:
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT r.record FROM alarm_open o JOIN alarm_records r ON r.id = o.id").fetchall()
        return [record_from_json(row[0]) for row in rows]

    def records(self, line: str | None, since_ts: float | None, until_ts: float | None) -> list[AlarmRecord]:
        query = ("SELECT record FROM alarm_records WHERE (?1 IS NULL OR line = ?1) AND raised_ts >= ?2"
                 " AND raised_ts <= ?3 ORDER BY raised_ts, id")
        bounds = (line, -float("inf") if since_ts is None else since_ts, float("inf") if until_ts is None else until_ts)
        with self._transaction(write=False) as db:
            rows = db.execute(query, bounds).fetchall()
        return [record_from_json(row[0]) for row in rows]

    def journal(self, *alarm_ids: str) -> list[JournalEntry]:
        found = []
        with self._transaction(write=False) as db:
            for start in range(0, len(alarm_ids), 500):  # SQLite's bound on parameters
                chunk = alarm_ids[start:start + 500]
                found += db.execute(f"SELECT n, {JOURNAL_COLUMNS} FROM alarm_journal WHERE alarm_id IN"
                                    f" ({', '.join('?' * len(chunk))})", chunk).fetchall()
        return [JournalEntry(*row[1:]) for row in sorted(found)]

    def forget(self, before_ts: float) -> int:
        """Delete the alarms first raised before ``before_ts`` that are back to normal, with their
        journals (retention); the count deleted."""
        closed = "SELECT id FROM alarm_records WHERE raised_ts < ?1 AND id NOT IN (SELECT id FROM alarm_open)"
        with self._transaction() as db:
            db.execute(f"DELETE FROM alarm_journal WHERE alarm_id IN ({closed})", (before_ts,))
            return db.execute(f"DELETE FROM alarm_records WHERE id IN ({closed})", (before_ts,)).rowcount

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @staticmethod
    def _record(db: sqlite3.Connection, alarm_id: str) -> AlarmRecord | None:
        row = db.execute("SELECT record FROM alarm_records WHERE id = ?", (alarm_id,)).fetchone()
        return record_from_json(row[0]) if row else None

    @staticmethod
    def _store(db: sqlite3.Connection, step: Step | None) -> Step | None:
        if step is None:
            return None
        record = step.record
        db.execute("INSERT OR REPLACE INTO alarm_records (id, line, raised_ts, record) VALUES (?, ?, ?, ?)",
                   (record.id, record.line, record.raised_ts, record_to_json(record)))
        if record.open:
            db.execute("INSERT OR REPLACE INTO alarm_open (line, rule, id) VALUES (?, ?, ?)",
                       (record.line, record.rule, record.id))
        else:
            db.execute("DELETE FROM alarm_open WHERE line = ? AND rule = ? AND id = ?",
                       (record.line, record.rule, record.id))
        db.execute(f"INSERT INTO alarm_journal ({JOURNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", step.entry)
        return step

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction (BEGIN IMMEDIATE to write: the file's write lock from the first read);
        rolled back when the body raises; LedgerUnavailable when SQLite or the disk fails."""
        with self._lock:
            try:
                db = self._connection()
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)
        if write and self.problem:
            log.warning("alarm history in %s is writable again", self.path)
            self.problem = ""

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _failed(self, exc: Exception) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None  # the next call opens afresh (the file may have been repaired)
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not self.problem:
            log.error("cannot use the alarm history in %s: %s; raises wait in memory until it can", self.path,
                      problem)
        self.problem = problem
        raise LedgerUnavailable(f"alarm history unavailable: {problem}") from None
