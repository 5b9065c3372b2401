"""Where the history lives: an SQLite file in the data dir (default) or a PostgreSQL database every host shares.

A backend owns connections, schema and the database's dialect; the recorder (app/recorder.py)
owns what is written when, with portable SQL (``{p}``: the backend's placeholder; upserts with
``ON CONFLICT``).  Both tables layouts are the same: points keyed by (line, seq) and indexed by
(line, ts, seq), alerts, alarms, idempotency keys and the rollups (app/history/rollups.py).  In
PostgreSQL the alarm book's ledger (app/alarm_ledger.py) has its tables here too, in the versioned
schema; in SQLite it creates them in the file itself.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol

from app.config import redact_url
from app.history import rollups

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1  # SQLite's: 1 = points, alerts, alarms, idempotency keys, per-minute and per-hour rollups
STREAM_CHUNK = 50_000  # rows per chunk of an export
# The SQLite write-ahead log is cut back to this once checkpointed (SQLite's auto-checkpoint keeps it near
# 1000 pages, about 4 MiB); without it the file keeps the size of its largest burst (a retention pass
# while a reader held an old snapshot), so the history's footprint only ever steps up.
WAL_LIMIT_BYTES = 4 * 1024 * 1024

SQLITE_SCHEMA = f"""
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
CREATE INDEX IF NOT EXISTS points_line_ts_seq ON points (line, ts, seq);
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
{rollups.schema("rollup_minute")} WITHOUT ROWID;
{rollups.schema("rollup_hour")} WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    seqs TEXT NOT NULL
) WITHOUT ROWID;
"""

DOUBLE = "DOUBLE PRECISION"
POSTGRES_HISTORY = [
    f"""CREATE TABLE IF NOT EXISTS points (line TEXT NOT NULL, seq BIGINT NOT NULL, ts {DOUBLE} NOT NULL,
        value {DOUBLE} NOT NULL, prob {DOUBLE} NOT NULL, PRIMARY KEY (line, seq))""",
    "CREATE INDEX IF NOT EXISTS points_line_ts_seq ON points (line, ts, seq)",
    f"""CREATE TABLE IF NOT EXISTS alerts (id BIGSERIAL PRIMARY KEY, seq BIGINT NOT NULL, line TEXT NOT NULL,
        ts {DOUBLE} NOT NULL, value {DOUBLE} NOT NULL, prob {DOUBLE} NOT NULL, prob_threshold {DOUBLE} NOT NULL,
        value_threshold {DOUBLE} NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS alerts_point ON alerts (line, seq)",
    "CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts)",
    f"""CREATE TABLE IF NOT EXISTS alarms (id TEXT PRIMARY KEY, line TEXT NOT NULL, seq BIGINT NOT NULL,
        raised_ts {DOUBLE} NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL, value {DOUBLE} NOT NULL,
        message TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS alarms_line_seq ON alarms (line, seq)",
    "CREATE INDEX IF NOT EXISTS alarms_raised ON alarms (raised_ts)",
    rollups.schema("rollup_minute", real=DOUBLE, integer="BIGINT"),
    rollups.schema("rollup_hour", real=DOUBLE, integer="BIGINT"),
    f"CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, created {DOUBLE} NOT NULL, seqs TEXT NOT NULL)",
]
POSTGRES_LEDGER = [
    f"""CREATE TABLE IF NOT EXISTS alarm_records (id TEXT PRIMARY KEY, line TEXT NOT NULL, raised_ts {DOUBLE} NOT NULL,
        record TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS alarm_records_raised ON alarm_records (raised_ts, id)",
    "CREATE TABLE IF NOT EXISTS alarm_open (line TEXT NOT NULL, rule TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (line, rule))",
    f"""CREATE TABLE IF NOT EXISTS alarm_journal (n BIGSERIAL PRIMARY KEY, alarm_id TEXT NOT NULL, at {DOUBLE} NOT NULL,
        action TEXT NOT NULL, "user" TEXT NOT NULL, comment TEXT NOT NULL, state TEXT NOT NULL, reading_ts {DOUBLE})""",
    "CREATE INDEX IF NOT EXISTS alarm_journal_alarm ON alarm_journal (alarm_id, n)",
    "CREATE TABLE IF NOT EXISTS alarm_mirror (source TEXT PRIMARY KEY, cursor TEXT NOT NULL)",
]
# PostgreSQL's schema versions: version N is reached by running the statements of the first N entries
POSTGRES_MIGRATIONS = [POSTGRES_HISTORY, POSTGRES_LEDGER]  # 1 = as SQLite's 1; 2 = the alarm ledger
POOL_WAIT_S = 2.0  # how long a request waits for a connection (the server away: then HistoryUnavailable)
# Every pooled connection's session.  A range's plan must be made for its own bounds: a generic plan of a
# prepared range statement (psycopg prepares a statement run 5 times; the server switches to a generic plan
# once the custom ones cost more on average, e.g. after a few wide ranges) assumes 0.5 % of the table, which
# on a month of readings is ~130,000 rows and puts the plan above jit_above_cost; JIT then compiles every
# 10-minute range (3-5 ms each, ~250 ms the first time in a server process, to read 6,000 rows in 3 ms).
SESSION = {"plan_cache_mode": "force_custom_plan", "jit": "off"}
MIGRATION_LOCK = 0x6C696E6577  # pg_advisory_xact_lock key: one process migrates at a time


class HistoryBackend(Protocol):
    """Connections to the history and its dialect."""

    p: str  # the placeholder of query parameters
    greatest: str  # the function giving the greater of two values
    where: str  # the file, or the URL without its password
    errors: tuple[type[BaseException], ...]  # what the driver raises when the history refuses

    def writing(self) -> Iterator:
        """A transaction on the connection kept for writes; on failure the connection is dropped."""

    def reading(self) -> Iterator:
        """A short-lived connection (or one from the pool) in a transaction, committed on success."""

    def stream(self, query: str, params: tuple) -> Iterator[list[tuple]]:
        """The rows of ``query`` in chunks, never all at once."""

    def numbers(self, db):
        """A cursor of ``db`` that reads rows of numbers the fastest way the driver knows."""

    def probe(self, db) -> None:
        """A small write that needs room (the history was unwritable: prove it is not any more)."""

    def insert_points(self, db, line: str, seq, ts, value, prob) -> None:
        """Add a line's readings (columns as arrays), keeping those already written."""

    def close(self) -> None:
        """Close every connection."""


class SqliteBackend:
    """``<data_dir>/linewatch.sqlite3``, in WAL mode; ``PRAGMA user_version`` is the schema version."""

    p = "?"
    greatest = "MAX"
    errors = (sqlite3.Error, OSError)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._schema_ready = False
        self._writer: sqlite3.Connection | None = None

    def open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash
            connection.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            if not self._schema_ready:
                connection.executescript(SQLITE_SCHEMA)
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
    def writing(self) -> Iterator[sqlite3.Connection]:
        if self._writer is None:
            self._writer = self.open()
        try:
            with self._writer:
                yield self._writer
        except BaseException:
            self.drop_writer()  # the next try opens afresh (the file may have been replaced or repaired)
            raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        connection = self.open()
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def stream(self, query: str, params: tuple) -> Iterator[list[tuple]]:
        with self.reading() as db:
            cursor = db.execute(query, params)
            while rows := cursor.fetchmany(STREAM_CHUNK):
                yield rows

    @staticmethod
    def numbers(db: sqlite3.Connection) -> sqlite3.Cursor:
        return db.cursor()

    def insert_points(self, db: sqlite3.Connection, line: str, seq, ts, value, prob) -> None:
        db.executemany("INSERT INTO points (line, seq, ts, value, prob) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       zip([line] * len(seq), seq.tolist(), ts.tolist(), value.tolist(), prob.tolist()))

    def probe(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS probe (bytes BLOB)")
        db.execute("DELETE FROM probe")
        db.execute("INSERT INTO probe VALUES (zeroblob(16384))")  # a write that needs a few pages of room

    def drop_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    close = drop_writer


class PostgresBackend:
    """A PostgreSQL database (``LINEWATCH_HISTORY_URL``) through a psycopg connection pool; the
    ``schema_version`` table holds the version, migrations run at start under an advisory lock."""

    p = "%s"
    greatest = "GREATEST"

    def __init__(self, url: str, max_size: int = 4) -> None:
        import psycopg  # loaded only when a history URL asks for it

        self.errors = (psycopg.Error, OSError)
        self.where = redact_url(url)
        self._url, self._max_size = url, max_size
        self._pool = None
        self._lock = threading.Lock()
        self._schema_ready = False

    def _pool_open(self):
        """The pool, opened on first use in the serving process (no connection at import or before a fork)."""
        from psycopg_pool import ConnectionPool

        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(self._url, min_size=0, max_size=self._max_size, timeout=POOL_WAIT_S,
                                            kwargs={"connect_timeout": 5}, configure=self._configure, open=True)
            return self._pool

    @staticmethod
    def _configure(db) -> None:
        """A new pooled connection's SESSION settings (set, not given in the URL's options: the plant's stay)."""
        for name, value in SESSION.items():
            db.execute("SELECT set_config(%s, %s, false)", (name, value))
        db.commit()

    def _migrate(self, db) -> None:
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current, latest = row[0] or 0, len(POSTGRES_MIGRATIONS)
        if current < latest:
            for statement in (statement for step in POSTGRES_MIGRATIONS[current:] for statement in step):
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (latest,))
            log.info("history schema in %s: version %d -> %d", self.where, current, latest)
        elif current > latest:
            raise RuntimeError(f"history schema in {self.where} is version {current}, newer than this LineWatch "
                               f"({latest}): upgrade LineWatch")

    @contextmanager
    def writing(self) -> Iterator:
        with self.reading() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator:
        with self._pool_open().connection() as db:  # commits on success, rolls back on an error
            if not self._schema_ready:
                self._migrate(db)
                db.commit()
                self._schema_ready = True
            yield db

    def stream(self, query: str, params: tuple) -> Iterator[list[tuple]]:
        with self.reading() as db, db.cursor(name="linewatch_export") as cursor:  # server-side: chunks
            cursor.itersize = STREAM_CHUNK
            cursor.execute(query, params)
            while rows := cursor.fetchmany(STREAM_CHUNK):
                yield rows

    @staticmethod
    def numbers(db):
        """Results in binary: doubles arrive as 8 bytes, not parsed from text (a 10-minute range of 6,000
        readings took half the client CPU, 2.3 instead of 5.3 ms)."""
        return db.cursor(binary=True)

    def insert_points(self, db, line: str, seq, ts, value, prob) -> None:
        """One statement over arrays (unnest): several times the rate of a row per statement."""
        db.execute("INSERT INTO points (line, seq, ts, value, prob) SELECT %s, * FROM unnest(%s::bigint[],"
                   " %s::float8[], %s::float8[], %s::float8[]) ON CONFLICT DO NOTHING",
                   (line, seq.tolist(), ts.tolist(), value.tolist(), prob.tolist()))

    def probe(self, db) -> None:
        db.execute("SELECT 1")

    def connect_once(self) -> None:
        """Open and close one connection outside the pool, so a failure tells its own cause
        (the pool only says it timed out)."""
        import psycopg

        psycopg.connect(self._url, connect_timeout=5).close()

    def drop_writer(self) -> None:
        """Nothing kept: each transaction takes a pooled connection (the pool checks it)."""

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
