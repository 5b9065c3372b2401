"""The history store on both backends (SQLite file, PostgreSQL database), from one parametrised fixture.

PostgreSQL: the machine's server (tests/helpers/postgres.py); each module creates and drops its
database; skipped, with the reason, when no server answers.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psycopg
import pytest

from app.config import Config
from app.points import Thresholds
from app.recorder import HistoryUnavailable, HistoryUnreachable, Recorder
from app.store import LineStores
from app.web import create_app
from tests.helpers import postgres
from tests.helpers.alarms import raised
from tests.helpers.processes import ROOT, free_port

T0 = 1_700_000_000.0
DAY = 86_400.0


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request, tmp_path):
    """"" (SQLite in the data dir) or an emptied PostgreSQL database's URL."""
    if request.param == "sqlite":
        return ""
    url = postgres.url_of(request.getfixturevalue("pg_database"))
    postgres.empty(url)
    return url


def make_recorder(tmp_path, history_url: str, capacity: int = 100_000):
    stores = LineStores(capacity)
    recorder = Recorder(tmp_path / "data", stores, Thresholds(0.5, 0.5), history_url=history_url)
    recorder.check()  # as the runtime does at start: the data dir made
    return stores, recorder


def test_points_rollups_alerts_and_keys_round_trip(tmp_path, history_url):
    """A day at a reading every 2 s with a value spike: ranges at every source, exact counts, the spike
    in each; alerts and idempotency keys kept; a restart restores the newest points."""
    stores, recorder = make_recorder(tmp_path, history_url)
    n = 43_200
    ts = T0 + 0.5 + 2 * np.arange(n, dtype=np.float64)
    value = np.cos(np.arange(n) / 500.0)
    prob = np.full(n, 0.1)
    value[20_000], prob[20_000] = 7.5, 0.9  # a spike, and the only alert
    for chunk in range(0, n, 21_600):  # two commits: buckets merged across them
        stores.get("line-1").append(ts[chunk:chunk + 21_600], value[chunk:chunk + 21_600], prob[chunk:chunk + 21_600])
        recorder.flush(keys={"key-1": {"line-1": [0, 1]}} if chunk else None)
    for (start, end, max_points), source in [((ts[19_990], ts[20_010], 100), "raw"), ((ts[0], ts[-1], 3000), "minute"),
                                             ((ts[0], ts[-1], 100), "hour")]:
        answer = recorder.points_range("line-1", start, end, max_points)
        assert (answer.source, answer.readings) == (source, int(((ts >= start) & (ts <= end)).sum()))
        assert 7.5 in answer.value and ts[20_000] in answer.ts and len(answer.ts) <= max_points
    assert [alert["seq"] for alert in recorder.alerts()] == [20_000]
    assert recorder.answered(["key-1"]) == {"line-1": [0, 1]} and recorder.answered(["key-2"]) is None
    recorder.stop()
    fresh_stores, fresh = make_recorder(tmp_path, history_url, capacity=1000)
    assert fresh.restore(1000) == 1000 and fresh_stores.get("line-1").since(-1).seq[-1] == n - 1
    fresh.stop()


def test_retention_drops_old_points_and_their_rollups(tmp_path, history_url):
    stores, recorder = make_recorder(tmp_path, history_url)
    recorder.retention = recorder.retention._replace(days=1.0)
    ts = T0 + np.arange(0, 3 * DAY, 60.0)
    stores.get("line-1").append(ts, np.ones(len(ts)), np.zeros(len(ts)))
    recorder.flush()
    deleted = recorder.enforce_retention(T0 + 3 * DAY)
    assert deleted == int((ts < T0 + 2 * DAY).sum())
    answer = recorder.points_range("line-1", T0, T0 + 3 * DAY, 50)
    assert answer.readings == len(ts) - deleted and answer.ts[0] >= T0 + 2 * DAY
    recorder.stop()


def test_exports_stream_a_month_exactly_as_csv_and_parquet(tmp_path, history_url):
    """A month at one reading every 5 minutes, exported in chunks: every reading once, in time order."""
    stores, recorder = make_recorder(tmp_path, history_url)
    start = float(int(time.time() - 29.9 * DAY))  # within the retention of the app that exports it
    ts = start + np.arange(0, 29.8 * DAY, 300.0)
    value = np.round(np.sin(np.arange(len(ts)) / 7.0), 6)
    stores.get("line-1").append(ts, value, np.zeros(len(ts)))
    recorder.flush()
    recorder.stop()
    app = create_app(Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path / "data"),
                                      "LINEWATCH_HISTORY_URL": history_url}))
    client = app.server.test_client()
    try:
        query = f"line=line-1&from={start}&to={ts[-1]}"
        csv = pd.read_csv(io.StringIO(client.get(f"/api/v1/points.csv?{query}").get_data(as_text=True)))
        parquet = pd.read_parquet(io.BytesIO(client.get(f"/api/v1/points.parquet?{query}").get_data()))
    finally:
        app.server.extensions["linewatch"].stop()
    for frame in (csv, parquet):
        assert len(frame) == len(ts) and frame["ts"].tolist() == ts.tolist()
        assert checksum(frame) == checksum(pd.DataFrame({"seq": np.arange(len(ts)), "ts": ts, "value": value}))


def checksum(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame[["seq", "ts", "value"]].to_numpy(dtype=np.float64).tobytes()).hexdigest()


def test_the_postgresql_schema_has_a_version_and_the_password_is_never_logged(tmp_path, pg_database, caplog):
    url = postgres.url_of(pg_database, password="s3cret-pw")  # trust auth ignores it; the logs must not show it
    caplog.set_level(logging.DEBUG)
    stores, recorder = make_recorder(tmp_path, url)
    stores.get("line-1").append([T0], [1.0], [0.0])
    recorder.flush()
    assert "s3cret-pw" not in recorder.health()["path"] and ":***@" in recorder.health()["path"]
    recorder.stop()
    unreachable = url.replace(url.split("@")[1].split("/")[0], f"127.0.0.1:{free_port()}")
    with pytest.raises(HistoryUnreachable, match="cannot be reached: connection failed") as refused:
        make_recorder(tmp_path, unreachable)  # at start: refused with one line
    assert "s3cret-pw" not in str(refused.value)
    stores = LineStores(100)  # gone once started: writes refused, health says so
    recorder = Recorder(tmp_path / "data", stores, Thresholds(0.5, 0.5), history_url=unreachable)
    stores.get("line-1").append([T0], [1.0], [0.0])
    with pytest.raises(HistoryUnavailable, match="history not writable"):
        recorder.flush()
    assert recorder.health()["state"] == "unwritable" and "s3cret-pw" not in str(recorder.health())
    recorder.stop()
    assert "s3cret-pw" not in caplog.text and "history" in caplog.text
    with psycopg.connect(postgres.url_of(pg_database)) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 2


def test_postgresql_ranges_are_planned_for_their_bounds_and_never_jit_compiled(tmp_path):
    """A month of readings puts a generic range plan (0.5 % of the table) above jit_above_cost; here the
    database's jit_above_cost of 0 stands for that size.  Wide ranges first: their custom plans cost more
    than the generic one, which PostgreSQL would then pick for every range after them."""
    if reason := postgres.available():
        pytest.skip(reason)
    with postgres.database() as name:
        url = postgres.url_of(name)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET jit_above_cost = 0')
            jit = admin.execute("SELECT pg_jit_available()").fetchone()[0]
        stores, recorder = make_recorder(tmp_path, url, capacity=20_000)
        stores.get("line-1").append(T0 + np.arange(20_000) / 10, np.ones(20_000), np.zeros(20_000))
        recorder.flush()
        with recorder.connect() as db:
            db.execute("ANALYZE points")
        for _ in range(8):
            assert recorder.points_range("line-1", T0, T0 + 2_000, 10_000).source == "raw"
        for start in T0 + np.arange(10) * 100:
            recorder.points_range("line-1", start, start + 60, 10_000)
        raw = "SELECT ts, value, prob FROM points WHERE line = %s AND ts >= %s AND ts < %s ORDER BY ts, seq"
        with recorder.connect() as db:  # the pool's one connection, which ran them all
            plans = db.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = %s",
                               (raw.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1),)).fetchone()
            explained = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + raw, ("line-1", T0, T0 + 60)).fetchone()[0]
        recorder.stop()
    assert plans is not None and plans[0] == 0 and plans[1] >= 10
    assert '"Index Name": "points_line_ts_seq"' in json.dumps(explained)  # read through the (line, ts, seq) index
    if jit:
        assert "JIT" not in explained[0]


def test_a_web_host_elsewhere_reads_the_shared_history_or_says_it_cannot(tmp_path, pg_database, redis_server):
    """STORE=redis, a data dir of its own: a month's export from PostgreSQL, exact; the alarms the worker
    raised, acknowledged there and exported, back from PostgreSQL when Redis lost them; with the database
    away, /readyz and the page's status say "history unavailable" and ranges answer 503."""
    from app.alarm_book import AlarmBook
    from app.alarm_ledger import history_ledger
    from app.ingest.alarm_mirror import AlarmMirror
    from app.store.redis.alarm_ledger import RedisLedger
    from app.store.redis.link import RedisLink

    url = postgres.url_of(pg_database)
    postgres.empty(url)
    stores, recorder = make_recorder(tmp_path / "worker", url)  # the ingest worker's host
    ts = 1_750_000_000.0 + np.arange(0, 30 * DAY, 600.0)
    stores.get("line-7").append(ts, np.arange(len(ts), dtype=np.float64), np.zeros(len(ts)))
    recorder.flush()
    link = RedisLink.from_url(redis_server.url)
    link.client.flushdb()
    worker_book = AlarmBook(RedisLedger(link))
    mirror = AlarmMirror(worker_book.ledger, history_ledger(recorder.backend))  # as the ingest worker wires it
    worker_book.raised([raised(line="line-7", ts=ts[5], seq=5)])
    assert mirror.copy() == 1

    def web_host(history_url: str):
        return create_app(Config.from_env({"LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": redis_server.url,
                                           "LINEWATCH_DATA_DIR": str(tmp_path / "web"),
                                           "LINEWATCH_HISTORY_URL": history_url}))
    app = web_host(url)
    client, runtime = app.server.test_client(), app.server.extensions["linewatch"]
    try:
        csv = client.get(f"/api/v1/points.csv?line=line-7&from={ts[0]}&to={ts[-1]}")
        frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)))
        assert frame["value"].tolist() == list(range(len(ts))) and frame["ts"].tolist() == ts.tolist()
        assert client.get("/readyz").get_json()["history"] == {"state": "ok"}
        assert client.post("/api/v1/alarms/line-7/5/score/ack", json={"comment": "on it"}).status_code == 200
        assert mirror.copy() == 1  # the web host's acknowledgement, in PostgreSQL
        link.client.flushdb()  # Redis restarted empty: the worker fills the book again from PostgreSQL
        assert mirror.restore() == 1
        [alarm] = client.get("/api/v1/alarms?line=line-7").get_json()["alarms"]
        assert (alarm["id"], alarm["state"], alarm["acknowledged_by"]) == ("line-7/5/score", "acknowledged",
                                                                           "anonymous")
        journal = pd.read_csv(io.StringIO(client.get("/api/v1/alarms.csv?line=line-7").get_data(as_text=True)))
        assert journal["action"].tolist() == ["raise", "acknowledge"] and journal["comment"].tolist()[1] == "on it"
    finally:
        runtime.stop()
        recorder.stop()
        link.client.close()
    app = web_host(url.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}"))
    client, runtime = app.server.test_client(), app.server.extensions["linewatch"]
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["history"]["state"] == "unavailable"
        assert runtime.source_status().history.startswith("history unavailable:")
        answer = client.get(f"/api/v1/points?line=line-7&from={ts[0]}&to={ts[-1]}")
        assert answer.status_code == 503 and answer.get_json()["error"].startswith("history unavailable:")
    finally:
        runtime.stop()


def test_migrate_copies_an_sqlite_history_to_postgresql_losing_nothing_and_again_adds_nothing(tmp_path, pg_database,
                                                                                              capsys):
    from app.alarm_book import AlarmBook
    from app.alarm_ledger import PostgresLedger, SqliteLedger
    from app.alarms import RaisedAlarm
    from app.history.__main__ import main
    from app.history.backends import PostgresBackend

    stores, recorder = make_recorder(tmp_path, "")
    rng = np.random.default_rng(7)
    for line in ("line-1", "line-2"):
        ts = T0 + np.sort(rng.uniform(0, 3 * DAY, 5_000))
        stores.get(line).append(ts, rng.normal(0.4, 0.2, len(ts)), rng.uniform(0, 1, len(ts)))
    recorder.flush(keys={"key-1": {"line-1": [0, 9]}})
    with recorder.backend.writing() as db:
        db.execute("INSERT INTO alarms VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   tuple(RaisedAlarm("line-1:spike:5", "line-1", 5, T0 + 5, "spike", "warning", 9.0, "value 9.0")))
    recorder.stop()
    ledger = SqliteLedger(tmp_path / "data" / "linewatch.sqlite3")
    book = AlarmBook(ledger)  # the alarm book's ledger: a closed alarm, an open one, a mirror cursor
    [closed] = book.raised([raised(line="line-1", seq=3)])
    book.acknowledge(closed.record.id, "alice", "seen")
    book.returned("line-1", "score", 200.0)
    book.raised([raised(line="line-2", rule="we-1", ts=300.0, seq=4)])
    ledger.mirror("redis", [], "1700000000000-3")
    ledger.close()
    url = postgres.url_of(pg_database)
    postgres.empty(url)
    sqlite = sqlite3.connect(tmp_path / "data" / "linewatch.sqlite3")
    analyzed = []
    for run in range(2):  # a re-run adds nothing
        assert main(["migrate", "--to", url, "--data-dir", str(tmp_path / "data")]) == 0
        with psycopg.connect(url) as db:
            analyzed.append(db.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'points'")
                            .fetchone()[0])
            for table, columns in [("points", "line, seq, ts, value, prob"), ("alerts", "line, seq, ts, value, prob"),
                                   ("alarms", "id, line, seq, raised_ts, message"), ("idempotency", "key, seqs"),
                                   ("rollup_minute", "line, bucket, n, total, max_ts, max_value, top_prob"),
                                   ("rollup_hour", "line, bucket, n, total, min_ts, min_value, first_ts, last_ts"),
                                   ("alarm_records", "id, line, raised_ts, record"), ("alarm_open", "line, rule, id"),
                                   ("alarm_journal", 'n, alarm_id, at, action, "user", comment, state, reading_ts'),
                                   ("alarm_mirror", "source, cursor")]:
                query = f"SELECT {columns} FROM {table} ORDER BY {columns}"
                assert rows_digest(db.execute(query).fetchall()) == rows_digest(sqlite.execute(query).fetchall()), table
    assert "points 10000 read, 10000 held" in capsys.readouterr().out
    assert analyzed[1] == analyzed[0] + 1  # each migration leaves the planner's statistics
    shared = AlarmBook(PostgresLedger(PostgresBackend(url)))  # the book goes on in PostgreSQL
    try:
        assert [(r.id, r.state) for r in shared.query()] == [("line-1/3/score", "normal"),
                                                             ("line-2/4/we-1", "unacknowledged")]
        shared.acknowledge("line-2/4/we-1", "bob")
        assert [e.action for e in shared.get("line-2/4/we-1")[1]] == ["raise", "acknowledge"]  # numbered after
        assert shared.ledger.mirrored("redis") == "1700000000000-3"
    finally:
        shared.ledger.close()
    away = url.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")
    assert main(["migrate", "--to", away, "--data-dir", str(tmp_path / "data")]) == 2
    assert main(["migrate", "--to", url, "--data-dir", str(tmp_path / "nowhere")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("linewatch: cannot migrate to postgresql://") and errors[1].startswith(
        "linewatch: no SQLite history at")


def rows_digest(rows: list[tuple]) -> tuple[int, str]:
    """Count and checksum of rows (floats to 9 significant digits: sums may differ in the last bits)."""
    text = "\n".join("|".join(f"{v:.9g}" if isinstance(v, float) else str(v) for v in row) for row in rows)
    return len(rows), hashlib.sha256(text.encode()).hexdigest()


def test_a_bad_history_url_fails_fast_naming_it_without_its_password():
    from app.config import ConfigError

    with pytest.raises(ConfigError, match=r"^LINEWATCH_HISTORY_URL='mysql://lw:\*\*\*@db/lw': must look like"):
        Config.from_env({"LINEWATCH_HISTORY_URL": "mysql://lw:s3cret-pw@db/lw"})
    assert "s3cret-pw" not in repr(Config.from_env({"LINEWATCH_HISTORY_URL": "postgresql://lw:s3cret-pw@db/lw"}))


def test_python_m_app_with_an_unreachable_postgresql_history_stops_with_one_line(tmp_path):
    url = f"postgresql://lw:s3cret-pw@127.0.0.1:{free_port()}/lw"  # nothing listens there
    result = subprocess.run([sys.executable, "-m", "app", "--port", str(free_port())], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LINEWATCH_DATA_DIR": str(tmp_path),
                                                        "LINEWATCH_HISTORY_URL": url})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"linewatch: invalid configuration: LINEWATCH_HISTORY_URL={url.replace('s3cret-pw', '***')}"
                           " cannot be reached: connection ")  # the cause psycopg gives ("connection failed: ...")
