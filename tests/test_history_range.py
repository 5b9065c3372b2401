"""Range mode of the points API: a line's history at any zoom, at most max_points real readings, no spike lost."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from app.config import Config
from app.points import Thresholds
from app.recorder import Recorder
from app.store import LineStores
from app.web import create_app

DAY = 86_400.0
T0 = 1_700_000_000.0


@pytest.fixture
def app_client(tmp_path):
    app = create_app(Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path / "data")}))
    runtime, client = app.server.extensions["linewatch"], app.server.test_client()
    client.get("/healthz")  # the first request starts the runtime (restoring an empty history)
    yield client, runtime
    runtime.stop()


def record(runtime, line: str, ts, value, prob) -> None:
    runtime.stores.get(line).append(ts, value, prob)
    runtime.recorder.flush()


def test_a_range_answers_its_readings_oldest_first_with_the_contract_fields(app_client):
    client, runtime = app_client
    record(runtime, "line-9", [T0 + 2, T0, T0 + 1, T0 + 50], [0.3, 0.1, 0.2, 0.9], [0.0, 0.5, 1.0, 0.2])
    body = client.get(f"/api/v1/points?line=line-9&from={T0}&to={T0 + 10}").get_json()
    assert body == {"line": "line-9", "from": T0, "to": T0 + 10, "source": "raw", "downsampled": False,
                    "readings": 3, "points": {"ts": [T0, T0 + 1, T0 + 2], "value": [0.1, 0.2, 0.3],
                                              "prob": [0.5, 1.0, 0.0]}}
    assert client.get("/api/v1/points?line=line-9&since=-1").get_json()["cursor"] == 3  # cursor mode as before


def test_a_long_range_answers_at_most_max_points_real_readings(app_client):
    client, runtime = app_client
    ts = T0 + np.arange(5000.0)
    record(runtime, "line-1", ts, np.sin(ts / 50), np.full(5000, 0.25))
    body = client.get(f"/api/v1/points?from={T0}&to={T0 + 5000}&max_points=100").get_json()
    assert body["readings"] == 5000 and body["downsampled"] is True
    points = body["points"]
    assert 50 <= len(points["ts"]) <= 100 and points["ts"] == sorted(points["ts"])
    assert np.allclose(points["value"], np.sin(np.array(points["ts"]) / 50))  # each point a reading, not a mean


@pytest.mark.parametrize("query, message", [
    ("from=0&max_points=9", "max_points must be between 10 and 100000"),
    ("from=0&max_points=100001", "max_points must be between 10 and 100000"),
    ("from=0&max_points=many", "max_points must be a whole number"),
    ("from=200&to=100", "from must not be after to"),
    ("from=yesterday", "from must be epoch seconds"),
    ("to=100&line=no%20such", "line must be 1-64 letters, digits or _.:-"),
])
def test_bad_range_arguments_are_400_naming_the_argument(app_client, query, message):
    client, _ = app_client
    answer = client.get(f"/api/v1/points?{query}")
    assert answer.status_code == 400 and answer.get_json() == {"error": message}


def test_an_unreadable_history_is_503_history_unavailable(app_client):
    client, runtime = app_client
    runtime.recorder.path.write_bytes(b"not a database" * 1000)
    answer = client.get("/api/v1/points?from=0&to=10")
    assert answer.status_code == 503
    assert answer.get_json()["error"].startswith("history unavailable: file is not a database")


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    """Two days of one line at 1 reading/s from an instant inside a minute, a value spike and a
    probability spike of one reading each; the recorder and the readings."""
    stores = LineStores(200_000)
    recorder = Recorder(tmp_path_factory.mktemp("history"), stores, Thresholds(0.5, 0.5))
    n = 2 * 86_400
    ts = T0 + 17.25 + np.arange(n, dtype=np.float64)
    value = 50 + np.sin(np.arange(n) / 300)
    prob = np.full(n, 0.1)
    value[123_457], prob[77_777] = 99.0, 0.97
    for chunk in range(0, n, 50_000):  # several commits: buckets merged across them
        stores.get("line-1").append(ts[chunk:chunk + 50_000], value[chunk:chunk + 50_000], prob[chunk:chunk + 50_000])
        recorder.flush()
    yield recorder, ts
    recorder.stop()


@pytest.mark.parametrize("first, last, max_points, source", [
    (123_400, 123_500, 3000, "raw"),  # every reading
    (70_000, 130_000, 10_000, "raw"),  # raw, downsampled
    (70_000, 130_000, 1000, "minute"),
    (0, 2 * 86_400 - 1, 300, "hour"),
    (77_000, 124_000, 10, "hour"),
])
def test_a_one_reading_spike_survives_at_every_zoom(two_days, first, last, max_points, source):
    recorder, ts = two_days
    start, end = ts[first] - 0.5, ts[last]
    answer = recorder.points_range("line-1", start, end, max_points)
    assert answer.source == source and answer.readings == last - first + 1
    assert len(answer.ts) <= max_points and np.all(np.diff(answer.ts) >= 0) and start <= answer.ts[0]
    assert answer.downsampled == (answer.readings > max_points) and answer.ts[-1] <= end
    if first <= 123_457 <= last:
        assert 99.0 in answer.value and ts[123_457] in answer.ts
    if first <= 77_777 <= last:
        assert 0.97 in answer.prob and ts[77_777] in answer.ts
    expected = 50 + np.sin((answer.ts - ts[0]) / 300)
    real = np.isclose(answer.value, expected) | (answer.value == 99.0)
    assert real.all()  # every point is a reading, never a mean


def test_the_resolution_follows_the_readings_a_range_holds_not_its_length(two_days):
    """A week holding the two days: per minute (8,640 candidates fit 1,500 points' budget), where the
    week's length alone (30,240 minutes' candidates) would have drawn it per hour."""
    recorder, ts = two_days
    answer = recorder.points_range("line-1", ts[0] - 5 * 86_400, ts[-1], 1500)
    assert answer.source == "minute" and answer.readings == len(ts)
    assert 99.0 in answer.value and 0.97 in answer.prob


def test_a_history_written_before_the_rollups_gets_them_at_start(tmp_path):
    stores = LineStores(1000)
    recorder = Recorder(tmp_path, stores, Thresholds(0.5, 0.5))
    stores.get("line-1").append(T0 + np.arange(600.0) * 10, np.arange(600.0), np.zeros(600))
    recorder.flush()
    recorder.stop()
    with sqlite3.connect(recorder.path) as db:  # as the previous version left it
        db.execute("DROP TABLE rollup_minute")
        db.execute("DROP TABLE rollup_hour")
        db.execute("PRAGMA user_version = 0")
    reopened = Recorder(tmp_path, LineStores(1000), Thresholds(0.5, 0.5))
    answer = reopened.points_range("line-1", T0, T0 + 6000, 10)
    assert answer.source == "hour" and answer.readings == 600 and 599.0 in answer.value
    with sqlite3.connect(reopened.path) as db:
        assert db.execute("SELECT SUM(n) FROM rollup_minute").fetchone()[0] == 600
