"""Copy an SQLite history into PostgreSQL: points, alerts, raised alarms, idempotency keys and the
alarm book's ledger (records, open index, journal, mirror cursors), then the rollups rebuilt from
the points there, and the planner's statistics gathered (a range query on a big table planned without
them assumes 0.5 % of its rows).  Nothing is lost and a re-run copies nothing twice (rows
already there are kept; the copied lines' rollups are rebuilt whole).  Run it before the ingest
worker writes to the database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable, NamedTuple

from app.config import redact_url
from app.history import rollups
from app.history.backends import PostgresBackend

CHUNK = 50_000
# table -> (its columns, the conflict that means "already copied")
TABLES = {
    "points": ("line, seq, ts, value, prob", "(line, seq)"),
    "alerts": ("seq, line, ts, value, prob, prob_threshold, value_threshold", "(line, seq)"),  # new ids, same order
    "alarms": ("id, line, seq, raised_ts, rule, severity, value, message", "(id)"),
    "idempotency": ("key, created, seqs", "(key)"),
    "alarm_records": ("id, line, raised_ts, record", "(id)"),
    "alarm_open": ("line, rule, id", "(line, rule)"),
    "alarm_journal": ('n, alarm_id, at, action, "user", comment, state, reading_ts', "(n)"),  # same numbers
    "alarm_mirror": ("source, cursor", "(source)"),
}
ORDER = {"points": "line, seq", "alerts": "id", "alarms": "id", "idempotency": "key", "alarm_records": "id",
         "alarm_open": "line, rule", "alarm_journal": "n", "alarm_mirror": "source"}
PER_LINE = ("alerts", "alarms")  # held: counted for the copied lines (the rest: whole tables)


class MigrationError(RuntimeError):
    """The migration cannot run; one line why (the URL without its password)."""


class Copied(NamedTuple):
    """Rows per table: read from SQLite, and held by PostgreSQL afterwards (for those lines or keys)."""

    read: dict[str, int]
    held: dict[str, int]


def migrate(sqlite_path: Path, url: str, say: Callable[[str], None] = print) -> Copied:
    """Copy the history at ``sqlite_path`` into the PostgreSQL database of ``url``; MigrationError."""
    if not Path(sqlite_path).is_file():
        raise MigrationError(f"no SQLite history at {sqlite_path} (set LINEWATCH_DATA_DIR or --data-dir)")
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    target = PostgresBackend(url)
    try:
        present = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        read = {table: 0 for table in TABLES}
        with target.writing() as db:
            for table, (columns, conflict) in TABLES.items():
                if table in present:
                    read[table] = _copy(source, db, table, columns, conflict)
                    say(f"{table}: {read[table]} rows read")
            lines = ([row[0] for row in source.execute("SELECT DISTINCT line FROM points")]
                     if "points" in present else [])
            for table in rollups.TABLES.values():
                db.execute(f"DELETE FROM {table} WHERE line = ANY(%s)", (lines,))
            rebuilt = rollups.rebuild(db, "%s", lines)
            say(f"rollups rebuilt from {rebuilt} points")
            db.execute(f"ANALYZE {', '.join([*TABLES, *rollups.TABLES.values()])}")  # the planner's statistics
            db.execute("SELECT setval(pg_get_serial_sequence('alarm_journal', 'n'), MAX(n)) FROM alarm_journal"
                       " HAVING MAX(n) IS NOT NULL")  # the next entry numbered after the copied ones
            held = {"points": rebuilt, **{table: db.execute(f"SELECT COUNT(*) FROM {table} WHERE line = ANY(%s)",
                                                            (lines,)).fetchone()[0] for table in PER_LINE},
                    **{table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                       for table in TABLES if table not in PER_LINE and table != "points"}}
    except target.errors as exc:
        raise MigrationError(f"cannot migrate to {redact_url(url)}: {_first_line(exc)}") from None
    except sqlite3.Error as exc:
        raise MigrationError(f"cannot read {sqlite_path}: {_first_line(exc)}") from None
    finally:
        source.close()
        target.close()
    short = [table for table in TABLES if held[table] < read[table]]
    if short:
        raise MigrationError(f"PostgreSQL holds fewer rows than were read in: {', '.join(short)}")
    return Copied(read, held)


def _copy(source: sqlite3.Connection, db, table: str, columns: str, conflict: str) -> int:
    """Stream ``table`` through COPY into a temporary table, then add the rows not yet there."""
    db.execute(f"CREATE TEMP TABLE incoming (LIKE {table} INCLUDING DEFAULTS)")
    read = 0
    cursor = source.execute(f"SELECT {columns} FROM {table} ORDER BY {ORDER[table]}")
    with db.cursor().copy(f"COPY incoming ({columns}) FROM STDIN") as copy:
        while rows := cursor.fetchmany(CHUNK):
            for row in rows:
                copy.write_row(row)
            read += len(rows)
    db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming ON CONFLICT {conflict} DO NOTHING")
    db.execute("DROP TABLE incoming")
    return read


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
