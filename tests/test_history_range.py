"""Range mode of the points API: a line's history at any zoom, at most max_points real readings, no spike lost."""

from __future__ import annotations

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


def test_a_one_reading_spike_survives_at_every_zoom(tmp_path):
    """A value spike and a probability spike, one reading each, among 200,000: in every answer."""
    stores = LineStores(200_000)
    recorder = Recorder(tmp_path, stores, Thresholds(0.5, 0.5))
    n = 200_000
    ts = T0 + np.arange(n) * 0.1
    value = 50 + np.sin(np.arange(n) / 300)
    prob = np.full(n, 0.1)
    value[123_457], prob[77_777] = 99.0, 0.97
    stores.get("line-1").append(ts, value, prob)
    recorder.flush()
    for start, end in [(ts[0], ts[-1]), (ts[70_000], ts[130_000]), (ts[123_000], ts[124_000])]:
        for max_points in (10, 300, 3000):
            answer = recorder.points_range("line-1", start, end, max_points)
            assert len(answer.ts) <= max_points
            if start <= ts[123_457] <= end:
                assert ts[123_457] in answer.ts and 99.0 in answer.value
            if start <= ts[77_777] <= end:
                assert 0.97 in answer.prob
    recorder.stop()
