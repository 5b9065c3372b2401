"""Throw-away PostgreSQL databases on the machine's server (tests create and drop their own).

The server is ``LINEWATCH_TEST_POSTGRES_URL`` (default: postgres@127.0.0.1:5432, trust auth, as
tests/run.sh starts Debian's service); when it does not answer, ``available()`` says why, for a skip.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

ADMIN_URL = os.environ.get("LINEWATCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def available() -> str:
    """"" when the server answers, else why not (a skip reason)."""
    import psycopg

    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {ADMIN_URL} ({str(exc).strip().splitlines()[0]}); tests/run.sh starts it"
    return ""


def url_of(database: str, password: str = "") -> str:
    """The admin URL pointing at ``database`` (with ``password`` in it when given)."""
    parts = urlsplit(ADMIN_URL)
    user = parts.username or "postgres"
    credentials = f"{user}:{password}" if password else user
    return parts._replace(netloc=f"{credentials}@{parts.hostname}:{parts.port or 5432}", path=f"/{database}").geturl()


def empty(url: str) -> None:
    """Empty the history's tables (points, rollups, alarm ledger, ...) of the database, when it has them."""
    import psycopg

    with psycopg.connect(url) as db:
        tables = [row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                                               " AND tablename <> 'schema_version'")]
        if tables:
            db.execute(f"TRUNCATE {', '.join(tables)}")


@contextmanager
def database(prefix: str = "lw_test") -> Iterator[str]:
    """A new empty database's name, dropped afterwards (its connections closed first)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
