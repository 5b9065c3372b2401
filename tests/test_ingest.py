"""HTTP ingest: validation rules, all-or-nothing, the token, durability across SIGKILL."""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Config
from app.detectors import DetectorConfig
from app.readings import InvalidPoint, validate_points

NOW = 1_800_000_000.0


def stored(dash_app, line="line-1") -> int:
    store = dash_app.server.extensions["linewatch"].stores.find(line)
    return store.stats().next_seq if store else 0


@pytest.fixture
def config(tmp_path):
    """Overrides tests/conftest.py's: here points arrive only by POST (no simulator)."""
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})


def test_validation_accepts_the_documented_shapes():
    readings = validate_points([
        {"value": 1},
        {"ts": NOW - 5, "value": 0.5, "defect_prob": 0.25, "line": "line-7"},
        {"ts": "2027-01-15T08:00:00Z", "value": -3.5, "defect_prob": None},
        {"ts": "2027-01-15T08:00:00", "value": 2.0},  # naive ISO means UTC
    ], now=NOW)
    assert readings.ts[0] == NOW and readings.ts[1] == NOW - 5
    assert readings.ts[2] == readings.ts[3] == 1_800_000_000.0  # 2027-01-15T08:00:00Z
    assert math.isnan(readings.prob[0]) and readings.prob[1] == 0.25 and math.isnan(readings.prob[2])
    assert readings.line == ["line-1", "line-7", "line-1", "line-1"]


@pytest.mark.parametrize("point, field, fragment", [
    ({}, "value", "is required"),
    ({"value": "1.0"}, "value", "must be a number, not str"),
    ({"value": True}, "value", "must be a number, not bool"),
    ({"value": float("nan")}, "value", "finite"),
    ({"value": float("inf")}, "value", "finite"),
    ({"value": 1, "defect_prob": 1.5}, "defect_prob", "between 0 and 1"),
    ({"value": 1, "defect_prob": -0.01}, "defect_prob", "between 0 and 1"),
    ({"value": 1, "defect_prob": "high"}, "defect_prob", "must be a number"),
    ({"value": 1, "ts": NOW + 3600}, "ts", "in the future"),
    ({"value": 1, "ts": "yesterday"}, "ts", "ISO-8601"),
    ({"value": 1, "ts": -5}, "ts", "after 1970"),
    ({"value": 1, "line": ""}, "line", "1-64"),
    ({"value": 1, "line": "a b"}, "line", "1-64"),
    ({"value": 1, "line": 7}, "line", "1-64"),
    ({"value": 1, "valeu": 2}, "valeu", "not a known field"),
    ([1, 2], "point", "must be an object"),
])
def test_each_rule_rejects_with_the_field_and_index(point, field, fragment):
    with pytest.raises(InvalidPoint) as info:
        validate_points([{"value": 0.5}, point], now=NOW)
    assert info.value.index == 1 and info.value.field == field
    assert fragment in str(info.value) and str(info.value).startswith(f"point 1: {field}")


def post(client, payload=None, data=None, headers=None, content_type="application/json"):
    body = data if data is not None else json.dumps(payload)
    return client.post("/api/v1/points", data=body, headers=headers or {}, content_type=content_type)


def test_a_list_is_stored_scored_and_recorded(client, dash_app):
    response = post(client, [{"value": 0.4}, {"value": 0.41, "defect_prob": 0.9}, {"value": 0.5, "line": "b"}])
    assert response.status_code == 201
    assert response.get_json() == {"accepted": 3, "seqs": {"line-1": [0, 1], "b": [0, 0]}}
    runtime = dash_app.server.extensions["linewatch"]
    batch = runtime.stores.get("line-1").since(-1)
    assert batch.value.tolist() == [0.4, 0.41] and batch.prob[1] == 0.9 and 0 <= batch.prob[0] <= 1
    rows = sqlite3.connect(runtime.recorder.path).execute("SELECT line, seq FROM points ORDER BY line, seq").fetchall()
    assert rows == [("b", 0), ("line-1", 0), ("line-1", 1)]  # on disk before the 201
    assert post(client, {"value": 1.0}).get_json()["seqs"] == {"line-1": [2, 2]}


def test_the_alarms_a_request_raises_open_one_alarm_each_in_the_book(client, dash_app):
    post(client, [{"value": 0.9, "defect_prob": 0.95}, {"value": 0.9, "defect_prob": 0.97}])
    runtime = dash_app.server.extensions["linewatch"]
    [stored_alarm] = runtime.stores.get("line-1").alarms_between(0, 1)
    [opened] = runtime.alarm_book.query(state="open")
    assert (opened.id, opened.rule, opened.state, opened.count) == (stored_alarm.id, "threshold", "unacknowledged", 1)


def test_returns_reach_the_book_in_reading_order_after_the_readings_are_stored(client, dash_app):
    """One request: a defect, the default off-delay of quiet readings, a defect again: the book
    hears raise, return, raise, so the alarm is raised again (were the return told last, it would
    end returned with one raise)."""
    T0 = time.time() - 3600
    off = DetectorConfig().clear_after
    runtime = dash_app.server.extensions["linewatch"]
    heard = []
    runtime.alarm_book.listen(lambda step: heard.append((step.entry.action, step.entry.reading_ts,
                                                         stored(dash_app))))
    defect, quiet = {"value": 0.9, "defect_prob": 0.95}, {"value": 0.9, "defect_prob": 0.05}
    points = [{**point, "ts": T0 + k} for k, point in enumerate([defect] + [quiet] * off + [defect])]
    assert post(client, points).status_code == 201
    assert heard == [("raise", T0, off + 2), ("return", T0 + off, off + 2), ("raise", T0 + off + 1, off + 2)]
    [alarm] = runtime.alarm_book.query(state="open")
    assert (alarm.state, alarm.count, alarm.returned_ts) == ("unacknowledged", 2, None)
    post(client, [{"value": 0.9, "defect_prob": 0.05, "ts": T0 + off + 2 + k} for k in range(off)])
    assert heard[-1][:2] == ("return", T0 + 2 * off + 1)
    assert runtime.alarm_book.get(alarm.id)[0].state == "returned-unacknowledged"


def test_a_bad_point_rejects_the_whole_request(client, dash_app):
    response = post(client, [{"value": 0.1}, {"value": 0.2}, {"value": "x"}])
    assert response.status_code == 400
    assert response.get_json() == {"error": "point 2: value must be a number, not str", "index": 2, "field": "value"}
    assert stored(dash_app) == 0
    assert dash_app.server.extensions["linewatch"].ingestor.rejected == 3


@pytest.mark.parametrize("kwargs, status, fragment", [
    ({"data": "{not json"}, 400, "not valid JSON"),
    ({"data": "[]"}, 400, "no points"),
    ({"data": "42"}, 400, "must be an object"),
    ({"data": "{}", "content_type": "text/plain"}, 415, "Content-Type: application/json"),
    ({"payload": [{"value": 1}] * 10_001}, 413, "at most 10000 points"),
    ({"data": "[" + ",".join(['{"value": 1.0}'] * 80_000) + "]"}, 413, "larger than 1048576 bytes"),
])
def test_malformed_requests_get_a_json_error(client, dash_app, kwargs, status, fragment):
    response = post(client, **kwargs)
    assert response.status_code == status
    assert fragment in response.get_json()["error"]
    assert stored(dash_app) == 0


def test_the_token_is_required_when_set(tmp_path):
    from app.web import create_app

    config = Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path), "LINEWATCH_SOURCE": "http",
                              "LINEWATCH_INGEST_TOKEN": "s3cret"})
    app = create_app(config)
    client = app.server.test_client()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            response = post(client, {"value": 1}, headers=headers)
            assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert post(client, {"value": 1}, headers={"Authorization": "Bearer s3cret"}).status_code == 201
    finally:
        app.server.extensions["linewatch"].stop()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8)
point_like = st.fixed_dictionaries({}, optional={
    "value": json_values | st.floats(-1e6, 1e6), "defect_prob": json_values | st.floats(0, 1),
    "ts": json_values | st.floats(1e9, 1.7e9), "line": st.text(max_size=6) | st.just("line-1")})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.lists(point_like, min_size=1, max_size=5) | point_like | json_values)
def test_any_json_is_all_or_nothing_and_never_a_server_error(client, dash_app, payload):
    before = sum(store.stats().next_seq for _, store in dash_app.server.extensions["linewatch"].stores.items())
    response = post(client, data=json.dumps(payload))
    after = sum(store.stats().next_seq for _, store in dash_app.server.extensions["linewatch"].stores.items())
    assert response.status_code in (201, 400)
    expected = len(payload) if isinstance(payload, list) else 1
    assert after - before == (expected if response.status_code == 201 else 0)


@pytest.mark.server
def test_everything_acknowledged_survives_sigkill(start_server, tmp_path):
    server = start_server({"LINEWATCH_SOURCE": "http"})
    acknowledged: list[float] = []
    rng = np.random.default_rng(7)
    deadline = time.monotonic() + 3
    batch_no = 0
    while time.monotonic() < deadline:
        values = (batch_no * 1000 + np.arange(100) + rng.random()).tolist()
        request = urllib.request.Request(server.url + "/api/v1/points",
                                         data=json.dumps([{"value": v} for v in values]).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        acknowledged.extend(values)
        batch_no += 1
    server.stop(signal.SIGKILL)
    rows = sqlite3.connect(tmp_path / "data" / "linewatch.sqlite3").execute("SELECT value FROM points").fetchall()
    assert len(acknowledged) >= 1000
    assert set(acknowledged) <= {row[0] for row in rows}
