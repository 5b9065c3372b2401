"""Acknowledged, then gone: the recorder says when it fell behind, and the ingest path never lets
the ring buffer overwrite points the recorder has not written yet."""

from __future__ import annotations

import logging
import sqlite3

import numpy as np
import pandas as pd
import pytest

from app.config import Config
from app.ingest import Ingestor
from app.points import Thresholds
from app.readings import InvalidPoint, Readings, validate_points
from app.recorder import Recorder
from app.sources.replay import ReplaySource
from app.store import LineStores
from app.web import create_app


def recorded_seqs(recorder: Recorder, line: str = "line-1") -> list[int]:
    with sqlite3.connect(recorder.path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM points WHERE line = ? ORDER BY seq", (line,))]


def make(tmp_path, capacity: int):
    stores = LineStores(capacity)
    recorder = Recorder(tmp_path, stores, Thresholds(0.5, 0.5))
    return stores, recorder, Ingestor(stores, recorder)


def readings(n: int, start: float = 1_800_000_000.0, line: str = "line-1") -> Readings:
    return Readings(start + np.arange(n) * 0.01, np.full(n, 0.4), np.full(n, np.nan), [line] * n)


def test_a_recorder_that_never_flushed_reports_what_it_missed_once(tmp_path, caplog):
    """The reporter's case: cursor -1 and the ring buffer moved on (was silent before)."""
    stores, recorder, _ = make(tmp_path, capacity=10)
    store = stores.get("line-1")
    store.append(np.arange(25.0), np.zeros(25), np.zeros(25))  # straight into the store: no back-pressure
    with caplog.at_level(logging.WARNING, logger="app.recorder"):
        assert recorder.flush() == 10
        store.append(np.arange(15.0), np.zeros(15), np.zeros(15))  # behind again, same episode
        recorder.flush()
    assert recorder.missed == {"line-1": 20}
    assert recorder.health()["behind"] == ["line-1"]
    assert len([r for r in caplog.records if "fell behind" in r.getMessage()]) == 1  # once per episode
    store.append(np.arange(3.0), np.zeros(3), np.zeros(3))
    recorder.flush()
    assert recorder.health()["behind"] == [] and recorder.missed == {"line-1": 20}  # caught up; the count stays


@pytest.mark.parametrize("batch", [7, 10, 250])
def test_ingest_waits_for_the_recorder_instead_of_overwriting(tmp_path, batch):
    stores, recorder, ingestor = make(tmp_path, capacity=10)
    for start in range(0, 250, batch):
        ingestor.ingest(readings(min(batch, 250 - start), start=1_800_000_000.0 + start), durable=False)
    recorder.flush()
    assert recorded_seqs(recorder) == list(range(250))
    assert recorder.missed == {}


def test_a_fast_replay_loses_nothing(tmp_path):
    """The reporter's replay at high speed, scaled down: 20k rows through a 500-point buffer."""
    stores, recorder, ingestor = make(tmp_path, capacity=500)
    path = tmp_path / "replay.csv"
    pd.DataFrame({"ts": 1_700_000_000 + np.arange(20_000) * 0.1, "value": np.full(20_000, 0.4)}).to_csv(path)
    clock = iter([1000.0, 1000.0 + 1e6])  # the first step reads the file; the second finds every row due
    source = ReplaySource(path, ingestor, speed=1000.0, clock=lambda: next(clock))
    source.step()
    source.step()
    recorder.flush()
    assert recorded_seqs(recorder) == list(range(20_000)) and recorder.missed == {}


def test_ingest_five_times_the_store_capacity_records_every_reading(tmp_path):
    """The recorder writes as the store fills (the rate with detection on is the benchmark's:
    ``python -m bench --only detection``), so readings overwritten in the store are in the history."""
    stores, recorder, ingestor = make(tmp_path, capacity=20_000)
    for i in range(100):
        ingestor.ingest(readings(1000, start=1_800_000_000.0 + i * 10), durable=False)
    recorder.flush()
    assert len(recorded_seqs(recorder)) == 100_000


def test_readings_older_than_the_retention_are_refused():
    now = 1_800_000_000.0
    with pytest.raises(InvalidPoint, match="older than the retention of 30 days"):
        validate_points([{"ts": 1, "value": 0.5}], now, retention_days=30)
    assert len(validate_points([{"ts": now - 29 * 86400, "value": 0.5}], now, retention_days=30)) == 1
    assert len(validate_points([{"ts": 1_400_000_000, "value": 0.5}], now, retention_days=36500)) == 1


def test_the_api_refuses_ts_1_with_400_naming_the_retention(tmp_path):
    app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path), "LINEWATCH_SOURCE": "http"}))
    try:
        client = app.server.test_client()
        response = client.post("/api/v1/points", json=[{"ts": 1, "value": 0.5}])
        assert response.status_code == 400 and "LINEWATCH_RETENTION_DAYS" in response.get_json()["error"]
        ready = client.get("/readyz").get_json()
        assert ready["history"]["missed"] == {}
    finally:
        app.server.extensions["linewatch"].stop()
