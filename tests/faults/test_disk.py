"""A full or broken disk is a state: ingest answers 503 with the reason and stores nothing,
/readyz and the page say why, and recovery is automatic; start-up with an unusable data dir
stops with one line naming LINEWATCH_DATA_DIR."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from app.alarms import AlarmDraft
from app.config import Config
from app.ingest import Ingestor
from app.points import Thresholds
from app.readings import Readings
from app.recorder import HistoryUnavailable, Recorder
from app.store import LineStores
from app.web import create_app
from tests.helpers.mounts import fill, read_only, tiny_filesystem
from tests.helpers.processes import ROOT, free_port, procfile_web_argv
from tests.helpers.waiting import wait_until

POINTS = [{"value": 0.4 + i * 1e-4} for i in range(2000)]
KEY = {"Idempotency-Key": "batch-0001"}


@pytest.fixture
def full_disk(tmp_path):
    with tiny_filesystem(tmp_path / "disk", "512k") as disk:
        yield disk


def test_a_full_disk_refuses_ingest_says_why_and_recovers_when_space_returns(full_disk):
    app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(full_disk), "LINEWATCH_SOURCE": "http"}))
    runtime = app.server.extensions["linewatch"]
    client = app.server.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        filler = fill(full_disk)
        for _ in range(2):  # the first discovers it, the second is refused the same way
            response = client.post("/api/v1/points", json=POINTS, headers=KEY)
            assert response.status_code == 503 and response.headers["Retry-After"]
            assert "history not writable" in response.get_json()["error"]
            assert "no space left" in response.get_json()["error"]
        assert runtime.store.stats().next_seq == 0  # nothing stored: no reading reappears later
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["history"]["state"] == "unwritable"
        assert "no space left" in runtime.source_status().history  # the tick's "history", the page's status card
        filler.unlink()
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=5, message="recovery")
        response = client.post("/api/v1/points", json=POINTS, headers=KEY)
        assert response.status_code == 201 and response.get_json()["seqs"]["line-1"] == [0, 1999]
        again = client.post("/api/v1/points", json=POINTS, headers=KEY)  # the client's retry of a lost answer
        assert (again.status_code, again.get_json()) == (201, response.get_json())
    finally:
        runtime.stop()
    with sqlite3.connect(runtime.recorder.path) as db:
        assert db.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM points").fetchone() == (2000, 0, 1999)


def test_a_source_on_a_full_disk_stores_nothing_and_retries_the_same_readings(full_disk):
    """Replay and simulator are not waited on: their ingest fails whole, and is retried."""
    stores = LineStores(100)
    recorder = Recorder(full_disk, stores, Thresholds(0.5, 0.5))
    recorder.check()
    ingestor = Ingestor(stores, recorder)
    small, big = (Readings(1.8e9 + np.arange(float(n)), np.zeros(n), np.full(n, np.nan), ["line-1"] * n)
                  for n in (80, 150))
    ingestor.ingest(small, durable=False)
    filler = fill(full_disk)
    for readings in (small, big):  # room must be made first / more than the store holds: written first
        with pytest.raises(HistoryUnavailable):
            ingestor.ingest(readings, durable=False)
    assert stores.get("line-1").stats().next_seq == 80 and recorder.missed == {}
    filler.unlink()
    ingestor.ingest(big, durable=False)
    recorder.flush()
    assert recorder.problem == "" and recorder.missed == {}
    with sqlite3.connect(recorder.path) as db:
        assert db.execute("SELECT COUNT(*), MAX(seq) FROM points").fetchone() == (230, 229)


def start_up(argv: list[str], data_dir) -> subprocess.CompletedProcess:
    env = {"PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "LINEWATCH_DATA_DIR": str(data_dir)}
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def assert_one_line_naming_the_data_dir(result: subprocess.CompletedProcess, cause: str) -> None:
    output = result.stderr + result.stdout
    assert "Traceback" not in output, output
    named = [line for line in output.splitlines() if "LINEWATCH_DATA_DIR=" in line]
    assert len(named) == 1 and cause in named[0], output


@pytest.mark.server  # the app starts as a process, and refuses
def test_python_m_app_refuses_a_corrupt_history_file(tmp_path):
    (tmp_path / "linewatch.sqlite3").write_bytes(b"not a database, just bytes " * 200)
    result = start_up([sys.executable, "-m", "app", "--port", str(free_port())], tmp_path)
    assert result.returncode == 2
    assert_one_line_naming_the_data_dir(result, "not a database")


@pytest.mark.server  # the app starts as a process, and refuses
def test_python_m_app_refuses_a_read_only_data_dir(tmp_path):
    (tmp_path / "source").mkdir()
    with read_only(tmp_path / "source", tmp_path / "ro") as data_dir:
        result = start_up([sys.executable, "-m", "app", "--port", str(free_port())], data_dir)
    assert result.returncode == 2
    assert_one_line_naming_the_data_dir(result, "Read-only file system")


@pytest.mark.server  # gunicorn starts with the app, and refuses
def test_gunicorn_stops_on_a_corrupt_history_file(tmp_path):
    (tmp_path / "linewatch.sqlite3").write_bytes(b"not a database, just bytes " * 200)
    result = start_up([a.replace("{port}", "0") for a in procfile_web_argv()], tmp_path)
    assert result.returncode != 0 and "Worker failed to boot" in result.stderr + result.stdout
    assert_one_line_naming_the_data_dir(result, "not a database")


def test_alarm_raises_on_a_full_disk_wait_in_memory_and_are_booked_when_space_returns(tmp_path):
    """The alarm book on the history's disk: ingest goes on, the raises wait, operators get 503."""
    with tiny_filesystem(tmp_path / "disk", "8m") as disk:  # room for the WAL of 40 transactions
        check_alarms_on_a_full_disk(disk)


def check_alarms_on_a_full_disk(full_disk):
    app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(full_disk), "LINEWATCH_SOURCE": "http"}))
    runtime = app.server.extensions["linewatch"]
    client = app.server.test_client()
    book = runtime.alarm_book
    raises = [AlarmDraft(0, "oven", 100.0 + n, f"rule-{n}", "warning", 1.0, "x" * 300).raised(n) for n in range(40)]
    try:
        book.raised(raises[:1])
        filler = fill(full_disk)
        assert book.raised(raises[1:]) == [] and book.waiting == 39  # no error: the ingest that raised them goes on
        alarms = client.get("/readyz").get_json()["alarms"]
        assert alarms["state"] == "unwritable" and "full" in alarms["message"] and alarms["waiting"] == 39
        refused = client.post("/api/v1/alarms/oven/0/rule-0/ack")
        assert refused.status_code == 503 and "alarm history unavailable" in refused.get_json()["error"]
        filler.unlink()
        book.sweep()  # (or the alarm clock, which runs since the first request)
        assert (book.waiting, runtime.alarm_ledger.problem) == (0, "")
        assert client.post("/api/v1/alarms/oven/0/rule-0/ack").status_code == 200
        assert len(client.get("/api/v1/alarms?line=oven").get_json()["alarms"]) == 40
    finally:
        runtime.stop()
