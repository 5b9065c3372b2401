"""The alarm book's ledger in the history: its SQLite file (``recorder.path``) or its PostgreSQL database.

One ledger in portable SQL (``SqlLedger``), two ways to hold a transaction.  Each change is one
transaction: read the record, apply the lifecycle function, write the record, the open-alarm
index and the journal entry; so processes sharing the history (or threads of one) never open two
alarms for one (line, rule).  SQLite: ``BEGIN IMMEDIATE`` takes the file's write lock from the
first read.  PostgreSQL: every change of an alarm of (line, rule) holds a transaction-scoped
advisory lock on (line, rule) before it reads what it changes, so web processes on other hosts
act on the same alarms, one change at a time.  Records and journal survive a restart.

Failures follow the recorder's convention (app/recorder.py): the first failure is logged once
and kept in ``problem`` until a write succeeds again, the SQLite connection is dropped (the next
call opens afresh) and the failed call raises LedgerUnavailable (nothing changed): the book holds
the detectors' raises in memory and books them once the history takes them, operators' actions
answer 503.
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
from app.history.backends import PostgresBackend, SqliteBackend

log = logging.getLogger(__name__)

SQLITE_SCHEMA = """
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
"""  # PostgreSQL's are in the history's versioned schema (app/history/backends.py)
JOURNAL_COLUMNS = ", ".join(f'"{field}"' for field in JournalEntry._fields)  # "user" is reserved in PostgreSQL
ALARM_LOCK = 0x616C61  # pg_advisory_xact_lock(ALARM_LOCK, hashtext(line, rule)): one change of its alarms at a time
IN_CHUNK = 500  # ids per IN (...) (SQLite's bound on parameters)


class SqlLedger:
    """Alarm records and journal in the history's tables; subclasses hold the transactions."""

    p: str  # the placeholder of query parameters
    where: str  # the file, or the URL without its password
    errors: tuple[type[BaseException], ...]  # what the driver raises when the history refuses

    def __init__(self) -> None:
        self.problem = ""  # why the last access failed, until a write succeeds

    def change_open(self, line: str, rule: str, change: Change) -> Step | None:
        with self._transaction() as db:
            self._hold(db, line, rule)
            row = db.execute(f"SELECT r.record FROM alarm_open o JOIN alarm_records r ON r.id = o.id"
                             f" WHERE o.line = {self.p} AND o.rule = {self.p}", (line, rule)).fetchone()
            return self._store(db, change(record_from_json(row[0]) if row else None))

    def change(self, alarm_id: str, change: Change) -> Step | None:
        with self._transaction() as db:
            found = self._record(db, alarm_id)
            if found is None:
                raise UnknownAlarm(alarm_id)
            self._hold(db, found.line, found.rule)
            return self._store(db, change(self._record(db, alarm_id)))  # as it is once held

    def mirror(self, source: str, steps: Iterable[Step], cursor: str) -> None:
        """Write steps another ledger committed, with how far ``source`` has been copied, in one transaction
        (app/ingest/alarm_mirror.py: the ingest worker's copy of the Redis book)."""
        with self._transaction() as db:
            for step in steps:
                self._store(db, step)
            db.execute(f"INSERT INTO alarm_mirror (source, cursor) VALUES ({self.p}, {self.p})"
                       " ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor", (source, cursor))

    def mirrored(self, source: str) -> str | None:
        """How far ``source`` has been copied (the cursor last given to ``mirror``), if at all."""
        with self._transaction(write=False) as db:
            row = db.execute(f"SELECT cursor FROM alarm_mirror WHERE source = {self.p}", (source,)).fetchone()
        return row[0] if row else None

    def record(self, alarm_id: str) -> AlarmRecord | None:
        with self._transaction(write=False) as db:
            return self._record(db, alarm_id)

    def open_records(self) -> list[AlarmRecord]:
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT r.record FROM alarm_open o JOIN alarm_records r ON r.id = o.id").fetchall()
        return [record_from_json(row[0]) for row in rows]

    def records(self, line: str | None, since_ts: float | None, until_ts: float | None) -> list[AlarmRecord]:
        bounds = [(f"line = {self.p}", line), (f"raised_ts >= {self.p}", since_ts),
                  (f"raised_ts <= {self.p}", until_ts)]
        given = [(condition, value) for condition, value in bounds if value is not None]
        where = " AND ".join(condition for condition, _ in given) or "TRUE"
        with self._transaction(write=False) as db:
            rows = db.execute(f"SELECT record FROM alarm_records WHERE {where} ORDER BY raised_ts, id",
                              tuple(value for _, value in given)).fetchall()
        return [record_from_json(row[0]) for row in rows]

    def journal(self, *alarm_ids: str) -> list[JournalEntry]:
        found = []
        with self._transaction(write=False) as db:
            for start in range(0, len(alarm_ids), IN_CHUNK):
                chunk = alarm_ids[start:start + IN_CHUNK]
                found += db.execute(f"SELECT n, {JOURNAL_COLUMNS} FROM alarm_journal WHERE alarm_id IN"
                                    f" ({', '.join([self.p] * len(chunk))})", chunk).fetchall()
        return [JournalEntry(*row[1:]) for row in sorted(found)]

    def forget(self, before_ts: float) -> int:
        """Delete the alarms first raised before ``before_ts`` that are back to normal, with their
        journals (retention); the count deleted."""
        closed = f"SELECT id FROM alarm_records WHERE raised_ts < {self.p} AND id NOT IN (SELECT id FROM alarm_open)"
        with self._transaction() as db:
            db.execute(f"DELETE FROM alarm_journal WHERE alarm_id IN ({closed})", (before_ts,))
            return db.execute(f"DELETE FROM alarm_records WHERE id IN ({closed})", (before_ts,)).rowcount

    def _record(self, db, alarm_id: str) -> AlarmRecord | None:
        row = db.execute(f"SELECT record FROM alarm_records WHERE id = {self.p}", (alarm_id,)).fetchone()
        return record_from_json(row[0]) if row else None

    def _store(self, db, step: Step | None) -> Step | None:
        if step is None:
            return None
        record, p = step.record, self.p
        db.execute(f"INSERT INTO alarm_records (id, line, raised_ts, record) VALUES ({p}, {p}, {p}, {p}) ON CONFLICT"
                   " (id) DO UPDATE SET line = excluded.line, raised_ts = excluded.raised_ts, record = excluded.record",
                   (record.id, record.line, record.raised_ts, record_to_json(record)))
        if record.open:
            db.execute(f"INSERT INTO alarm_open (line, rule, id) VALUES ({p}, {p}, {p})"
                       " ON CONFLICT (line, rule) DO UPDATE SET id = excluded.id", (record.line, record.rule, record.id))
        else:
            db.execute(f"DELETE FROM alarm_open WHERE line = {p} AND rule = {p} AND id = {p}",
                       (record.line, record.rule, record.id))
        db.execute(f"INSERT INTO alarm_journal ({JOURNAL_COLUMNS}) VALUES ({', '.join([p] * len(step.entry))})",
                   tuple(step.entry))
        return step

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator:
        """One transaction, rolled back when the body raises; LedgerUnavailable when the history fails."""
        try:
            with self._begin(write) as db:
                yield db
        except self.errors as exc:
            self._failed(exc)
        if write and self.problem:
            log.warning("alarm history in %s is writable again", self.where)
            self.problem = ""

    def _begin(self, write: bool):
        """A connection in a transaction (a context manager), committed when its body succeeds."""
        raise NotImplementedError

    def _hold(self, db, line: str, rule: str) -> None:
        """Wait until no other transaction changes an alarm of (line, rule), until this one ends."""
        raise NotImplementedError

    def _failed(self, exc: BaseException) -> None:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not self.problem:
            log.error("cannot use the alarm history in %s: %s; raises wait in memory until it can", self.where,
                      problem)
        self.problem = problem
        raise LedgerUnavailable(f"alarm history unavailable: {problem}") from None


class SqliteLedger(SqlLedger):
    """In the SQLite file ``path`` (WAL; shared with the recorder), on a connection of its own."""

    p = "?"
    errors = (sqlite3.Error, OSError)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.where = str(self.path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _hold(self, db, line: str, rule: str) -> None:
        """Nothing more: BEGIN IMMEDIATE holds the whole file."""

    @contextmanager
    def _begin(self, write: bool) -> Iterator[sqlite3.Connection]:
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
            except self.errors:
                self._drop()  # the next call opens afresh (the file may have been repaired)
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(SQLITE_SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class PostgresLedger(SqlLedger):
    """In the PostgreSQL history of ``backend`` (the recorder's: its connection pool and schema)."""

    p = "%s"

    def __init__(self, backend: PostgresBackend) -> None:
        super().__init__()
        self.backend = backend
        self.where = backend.where
        self.errors = backend.errors

    def close(self) -> None:
        """Close the backend's pool (it opens again on the next use)."""
        self.backend.close()

    def _hold(self, db, line: str, rule: str) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (ALARM_LOCK, f"{line}\x1f{rule}"))

    @contextmanager
    def _begin(self, write: bool) -> Iterator:
        with self.backend.writing() as db:  # a pooled connection in a transaction, committed on success
            yield db


def history_ledger(backend: SqliteBackend | PostgresBackend) -> SqliteLedger | PostgresLedger:
    """The alarm ledger in the history of ``backend`` (the recorder's)."""
    return PostgresLedger(backend) if isinstance(backend, PostgresBackend) else SqliteLedger(backend.path)
