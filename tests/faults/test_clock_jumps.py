"""Clock steps of -1 h and +1 h on the ingest host: readings whose times jump back an hour and
forward again are accepted in arrival order, keep increasing sequence ids, are recorded once and
kept by retention, and the tick and ``GET /api/v1/points?since=`` cursors go on as before.

Two ways the jump reaches the app: the client's own ``ts`` (its clock stepped), and ``ts``
omitted (arrival time), where the test cannot step the machine clock and sends the times such a
host would have given explicitly -- and, in-process, steps the app's ``time.time`` as well."""

from __future__ import annotations

import sqlite3
import time

import pandas as pd
import pytest

from app.config import Config
from app.web import create_app
from layouts import ids
from tests.helpers.ticks import seqs, tick_request

HOUR = 3600.0


@pytest.fixture
def config(tmp_path):
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})


STEPS = (0.0, -HOUR, 0.0, +HOUR, 0.0)  # the host's clock: right, stepped back an hour, forward again, ...


def points(client, since: int, limit: int = 1000) -> dict:
    return client.get(f"/api/v1/points?since={since}&limit={limit}").get_json()


def test_readings_across_clock_steps_keep_arrival_order_ids_history_and_cursors(config, monkeypatch):
    app = create_app(config)
    runtime = app.server.extensions["linewatch"]
    client = app.server.test_client()
    real_time = time.time
    now = real_time()
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])  # the app's clock, stepped below
    sent: list[float] = []
    answers = []
    polled_seq, polled_ts, cursor = [], [], -1
    tick = client.post("/_dash-update-component", json=tick_request(1, None)).get_json()["response"][ids.TICK]["data"]
    tick_cursor, ticked = tick["cursor"], []
    try:
        for step in STEPS:
            offset[0] = step
            for _ in range(3):
                clock = time.time()  # the stepped clock, as the client on this host and the app read it
                given = [{"ts": clock + i * 1e-3, "value": 0.4} for i in range(10)]  # the client's ts
                omitted = [{"value": 0.4} for _ in range(10)]  # arrival time: the app's (stepped) clock
                explicit = [{"ts": clock, "value": 0.4} for _ in range(10)]  # the same, sent explicitly
                for body in (given, omitted, explicit):
                    response = client.post("/api/v1/points", json=body, headers={"Idempotency-Key": f"k{len(sent)}"})
                    assert response.status_code == 201, response.get_json()
                    answers.append(response.get_json()["seqs"]["line-1"])
                    sent += [p.get("ts", clock) for p in body]
                page = points(client, cursor, limit=7)  # a reader polling with a small page
                while page["points"]["seq"]:
                    polled_seq += page["points"]["seq"]
                    polled_ts += page["points"]["ts"]
                    cursor = page["cursor"]
                    page = points(client, cursor, limit=7)
                assert page["cursor"] == cursor  # nothing new: the cursor stays
                data = client.post("/_dash-update-component", json=tick_request(2 + len(ticked), tick_cursor)
                                   ).get_json()["response"][ids.TICK]["data"]
                assert "reset" not in data  # the tick's cursor continues: no window sent again
                ticked += list(zip(seqs(data), data["ts"]))
                tick_cursor = data["cursor"]
        offset[0] = 0.0
        total = len(sent)
        assert [s for first, last in answers for s in range(first, last + 1)] == list(range(total))
        assert polled_seq == [seq for seq, _ in ticked] == list(range(total))  # each once, in id order
        assert [ts for _, ts in ticked] == pytest.approx(polled_ts, abs=1e-3)  # the tick sends milliseconds
        assert polled_ts == pytest.approx(sent, abs=1.0)  # arrival order, the times as sent (not sorted)
        assert sorted(polled_ts) != polled_ts
        runtime.recorder.flush()
        for clock in (now, now + HOUR, now - HOUR):  # retention run by a host clock stepped either way
            assert runtime.recorder.enforce_retention(clock) == 0
        history = pd.concat(runtime.recorder.history("line-1", now - 2 * HOUR, now + 2 * HOUR, 10_000))
        assert dict(zip(history["seq"], history["ts"])) == dict(zip(range(total), polled_ts))  # each once, its time
        assert len(history) == total and history["ts"].is_monotonic_increasing  # exported in time order
        assert client.post("/api/v1/points", json=[{"value": 0.5}], headers={"Idempotency-Key": "k0"}
                           ).get_json()["seqs"]["line-1"] == answers[0]  # keys kept across the steps
    finally:
        runtime.stop()
    app = create_app(config)  # a restart on the same history
    runtime = app.server.extensions["linewatch"]
    client = app.server.test_client()
    try:
        restored = points(client, -1, limit=10_000)["points"]
        assert restored["seq"] == list(range(total)) and restored["ts"] == polled_ts
        response = client.post("/api/v1/points", json=[{"value": 0.5}])
        assert response.get_json()["seqs"]["line-1"] == [total, total]  # ids go on, none reused
    finally:
        runtime.stop()
    with sqlite3.connect(config.data_dir / "linewatch.sqlite3") as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM points").fetchone() == (
            total + 1, total + 1, total)
