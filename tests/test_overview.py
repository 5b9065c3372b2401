"""The plant overview: every line's tile from one tick, those needing attention first."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from dash import Dash, html

from app.config import Config
from app.readings import validate_points
from app.web import create_app
from callbacks import overview
from callbacks.overview import SHARED_FOR_S, SPARK_POINTS, overview_tiles, sparkline
from layouts import ids
from tests.helpers.ticks import overview_tick_request, render_request

LINES = """
[lines.l-03]
usl = 10
[lines.l-03.alarms.usl]
priority = 1
[lines.l-05]
name = "Oven 5"
unit = "°C"
usl = 10
[lines.l-05.alarms.usl]
priority = 1
[lines.l-07]
usl = 10
[lines.press-9]
name = "Press 9"
unit = "kN"
"""


@pytest.fixture
def app(tmp_path):
    (tmp_path / "lines.toml").write_text(LINES, encoding="utf-8")
    app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http",
                                      "LINEWATCH_LINES_FILE": str(tmp_path / "lines.toml")}))
    yield app
    app.server.extensions["linewatch"].stop()


@pytest.fixture
def runtime(app):
    return app.server.extensions["linewatch"]


def feed(runtime, line, values):
    now = time.time()
    runtime.ingestor.ingest(validate_points([{"line": line, "value": v, "ts": now - len(values) + i * 0.5}
                                             for i, v in enumerate(values)], now))


def post(client, line, values):
    """``values`` for ``line`` over HTTP, as a gateway sends them."""
    now = time.time()
    answer = client.post("/api/v1/points", json=[{"line": line, "value": v, "ts": now - len(values) + i * 0.5}
                                                 for i, v in enumerate(values)])
    assert answer.status_code == 201


def test_twenty_lines_fed_over_http_in_tiles_ordered_by_attention_and_a_new_line_appears(app, runtime):
    client = app.server.test_client()
    for n in range(20):
        post(client, f"l-{n:02}", [1.0 + 0.01 * i for i in range(50)] + ([50.0] if n in (3, 5, 7) else []))
    [acked] = [r for r in runtime.alarm_book.open_alarms() if r.line == "l-03"]
    runtime.alarm_book.acknowledge(acked.id, "ann")

    tiles = overview_tiles(runtime, time.time())
    order = [t["id"] for t in tiles]
    # unacknowledged P1, unacknowledged P2 (a critical limit), open but acknowledged P1, the rest, no readings last
    assert order[:3] == ["l-05", "l-07", "l-03"] and order[-2:] == ["line-1", "press-9"] and len(order) == 22
    oven, press = tiles[0], tiles[-1]
    assert (oven["name"], oven["unit"], oven["status"], oven["value"]) == ("Oven 5", "°C", "alarm", 50.0)
    assert oven["open"] == {"1": 1, "2": 0, "3": 0, "4": 0} and oven["unacknowledged"] == 1
    assert tiles[2]["open"]["1"] == 1 and tiles[2]["unacknowledged"] == 0
    assert (press["name"], press["unit"], press["status"]) == ("Press 9", "kN", "waiting") and "value" not in press
    quiet = next(t for t in tiles if t["id"] == "l-10")
    assert quiet["status"] == "live" and 0 < len(quiet["spark"]) <= SPARK_POINTS and quiet["value"] == 1.49

    post(client, "l-20", [2.0])
    assert "l-20" in [t["id"] for t in overview_tiles(runtime, time.time())]


def test_a_line_without_new_readings_is_stale_and_says_for_how_long(runtime, monkeypatch):
    feed(runtime, "l-01", [1.0, 2.0])
    store = runtime.stores.find("l-01")
    monkeypatch.setattr(store, "stats", lambda: store.__class__.stats(store)._replace(rate=0.0))
    [tile] = [t for t in overview_tiles(runtime, time.time() + 60) if t["id"] == "l-01"]
    assert tile["status"] == "stale" and tile["quiet_s"] >= 60


def test_overview_ticks_within_half_a_second_share_one_reading_of_the_tiles(runtime):
    clock = [100.0]
    app = Dash(__name__)
    app.layout = html.Div()
    overview.register(app, runtime, timer=lambda: clock[0])
    client = app.server.test_client()

    def shown():
        answer = client.post("/_dash-update-component", json=overview_tick_request(1)).get_json()
        return [t["id"] for t in answer["response"][ids.OVERVIEW_TICK]["data"]["tiles"]]

    feed(runtime, "l-01", [1.0])
    first = shown()
    feed(runtime, "l-02", [1.0])
    clock[0] += SHARED_FOR_S * 0.9
    assert shown() == first and "l-02" not in first  # another viewer's tick: the same reading
    clock[0] += SHARED_FOR_S * 0.2
    assert "l-02" in shown()  # a new reading once the span is over


def test_sparkline_bars_span_the_range():
    assert sparkline(np.array([])) == []
    assert sparkline(np.arange(1000.0))[0] == 0 and sparkline(np.arange(1000.0))[-1] == 100
    assert len(sparkline(np.arange(1000.0))) == SPARK_POINTS and sparkline(np.ones(5)) == [50] * 5


@pytest.mark.parametrize("prefix", ["/", "/linewatch/"])
def test_the_overview_is_the_first_page_and_its_tick_one_request_for_every_tile(tmp_path, prefix):
    (tmp_path / "lines.toml").write_text(LINES, encoding="utf-8")
    app = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http",
                                      "LINEWATCH_LINES_FILE": str(tmp_path / "lines.toml"), "LINEWATCH_URL_PREFIX": prefix}))
    runtime, client = app.server.extensions["linewatch"], app.server.test_client()
    try:
        page = client.post(prefix + "_dash-update-component", json=render_request(prefix)).get_json()
        assert ids.OVERVIEW_TILES in json.dumps(page["response"][ids.PAGE]["children"])
        feed(runtime, "l-05", [1.0, 50.0])
        def overview_tick(alarm_version):
            answer = client.post(prefix + "_dash-update-component", json=overview_tick_request(1, alarm_version))
            return answer.get_json()["response"][ids.OVERVIEW_TICK]["data"]
        tick = overview_tick(None)
        assert tick["tiles"][0]["id"] == "l-05" and tick["tiles"][0]["name"] == "Oven 5"
        assert {t["id"] for t in tick["tiles"]} == {"l-03", "l-05", "l-07", "press-9", "line-1"}
        bar = tick["alarm_bar"]  # the alarm bar of every page rides on the overview's tick too
        assert sum(bar["unacknowledged"].values()) >= 1 and bar["newest"]["line"] == "l-05"
        assert "alarm_bar" not in overview_tick(bar["version"])  # only when it changed
    finally:
        runtime.stop()
