"""Detection in the product: readings judged per line at ingest, alarms as events, recorded and served."""

import numpy as np
import pytest

from app.config import Config
from app.web import create_app
from callbacks.tick import build_tick
from app.sources import SourceHealth

ALARM_KEYS = {"id", "line", "seq", "raised_ts", "rule", "severity", "value", "message"}
START = 1_388_534_400.0  # 2014-01-01: a backfill of a recording years old


def temperature(n: int, seed: int = 0) -> np.ndarray:
    """A machine temperature in °C: 85 ± noise with a slow drift."""
    rng = np.random.default_rng(seed)
    return 85 + np.cumsum(rng.normal(0, 0.05, n)) + rng.normal(0, 0.4, n)


@pytest.fixture
def app(tmp_path, request):
    lines = getattr(request, "param", None)
    env = {"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path / "data"),
           "LINEWATCH_RETENTION_DAYS": "36500"}
    if lines:
        (tmp_path / "lines.toml").write_text(lines, encoding="utf-8")
        env["LINEWATCH_LINES_FILE"] = str(tmp_path / "lines.toml")
    dash_app = create_app(Config.from_env(env))
    yield dash_app
    dash_app.server.extensions["linewatch"].stop()


def post(client, ts, values, line="oven-3", batch=500, prob=None):
    for start in range(0, len(ts), batch):
        points = [{"ts": float(t), "value": float(v), "line": line} for t, v in
                  zip(ts[start:start + batch], values[start:start + batch])]
        if prob is not None:
            for point, p in zip(points, prob[start:start + batch]):
                point["defect_prob"] = float(p)
        response = client.post("/api/v1/points", json=points)
        assert response.status_code == 201, response.get_json()


def test_a_real_sensor_in_celsius_is_not_flagged_and_a_spike_raises_one_alarm(app):
    client = app.server.test_client()
    values = temperature(2000)
    values[1500] += 15  # the anomaly
    ts = START + 300 * np.arange(2000)
    post(client, ts, values)
    points = client.get("/api/v1/points?line=oven-3&since=-1&limit=10000").get_json()["points"]
    prob = np.array(points["prob"])
    assert len(prob) == 2000 and ((prob >= 0) & (prob <= 1)).all()
    assert (prob[200:] > 0.5).mean() < 0.01  # was 98 %: the old scorer assumed 0-1 data
    alarms = client.get(f"/api/v1/alarms?line=oven-3&from={START}&to={START + 300 * 2000}").get_json()["alarms"]
    assert [(a["seq"], a["rule"]) for a in alarms] == [(1500, "score")]
    assert set(alarms[0]) >= ALARM_KEYS | {"state", "priority", "count"} and alarms[0]["raised_ts"] == ts[1500] and alarms[0]["id"] == "oven-3/1500/score"
    assert alarms[0]["value"] == pytest.approx(values[1500]) and alarms[0]["severity"] in ("warning", "critical")
    assert client.get("/api/v1/alarms?line=other").get_json() == {"alarms": []}
    assert client.get(f"/api/v1/alarms?to={START}").get_json() == {"alarms": []}


def test_detection_is_causal_and_deterministic_whatever_the_batches(tmp_path):
    """The same readings POSTed in batches of 1,000 and of 7 give the same alarms (and probabilities)."""
    values = temperature(1200, seed=3)
    values[700:760] += 6  # a level shift that becomes the new normal
    values[1000] -= 12
    ts = START + 300 * np.arange(1200)
    found = []
    for batch in (1000, 7):
        dash_app = create_app(Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_RETENTION_DAYS": "36500",
                                               "LINEWATCH_DATA_DIR": str(tmp_path / f"data-{batch}")}))
        client = dash_app.server.test_client()
        try:
            post(client, ts, values, batch=batch)
            alarms = client.get("/api/v1/alarms?line=oven-3").get_json()["alarms"]
            prob = client.get("/api/v1/points?line=oven-3&since=-1&limit=10000").get_json()["points"]["prob"]
            events = dash_app.server.extensions["linewatch"].stores.find("oven-3").alarms_between(0, 1199)
        finally:
            dash_app.server.extensions["linewatch"].stop()
        found.append(([(a["id"], a["count"]) for a in alarms], prob, [(e.seq, e.rule) for e in events]))
    assert found[0][0] == found[1][0] and found[0][0]  # the alarm book's alarms
    assert found[0][1] == pytest.approx(found[1][1], abs=1e-9)
    assert found[0][2] == found[1][2]  # the detectors' raises (the chart's markers)
    assert {seq for seq, _ in found[0][2]} >= {1000} and any(700 <= seq < 720 for seq, _ in found[0][2])


def test_backfill_keeps_arrival_order_with_clock_steps_and_duplicates(app):
    client = app.server.test_client()
    ts = [START, START + 300, START + 600, START + 300, START + 300, START + 900]  # an hour repeated, a duplicate
    post(client, ts, [80.0, 81.0, 82.0, 81.5, 81.5, 83.0])
    points = client.get("/api/v1/points?line=oven-3&since=-1").get_json()["points"]
    assert points["ts"] == ts and points["value"] == [80.0, 81.0, 82.0, 81.5, 81.5, 83.0]


def test_readings_with_a_defect_probability_keep_it_and_raise_one_threshold_alarm_per_episode(app):
    client = app.server.test_client()
    prob = np.full(400, 0.05)
    prob[100:110] = 0.9  # one burst of ten defective readings ...
    prob[340:343] = 0.95  # ... and another, much later (still raised at the end)
    values = np.full(400, 0.8)
    ts = START + np.arange(400)
    post(client, ts, values, line="vision-1", prob=prob)
    stored = client.get("/api/v1/points?line=vision-1&since=-1&limit=1000").get_json()["points"]["prob"]
    assert stored == pytest.approx(prob.tolist())
    events = app.server.extensions["linewatch"].stores.find("vision-1").alarms_between(0, 399)
    assert [(e.seq, e.rule) for e in events] == [(100, "threshold"), (340, "threshold")]
    # One alarm in the book: the first episode returned to normal unacknowledged, so the second
    # raises the same alarm again (ISA-18.2: it stays open until acknowledged).
    alarms = client.get("/api/v1/alarms?line=vision-1").get_json()["alarms"]
    assert [(a["id"], a["count"], a["state"]) for a in alarms] == [("vision-1/100/threshold", 2, "unacknowledged")]


OVEN_WITH_SPC = """
[lines.oven-3]
unit = "°C"
[lines.oven-3.spc]
rules = ["we-1"]
baseline = 100
"""


@pytest.mark.parametrize("app", [OVEN_WITH_SPC], indirect=True)
def test_ticks_carry_the_alarms_of_their_readings_and_the_control_lines(app):
    runtime = app.server.extensions["linewatch"]
    client = app.server.test_client()
    values = 85 + np.random.default_rng(5).normal(0, 0.4, 300)  # a stable process: SPC's premise
    values[250] = 120.0
    post(client, START + 300 * np.arange(300), values)
    store = runtime.stores.find("oven-3")
    control = lambda: runtime.ingestor.control_lines("oven-3")  # noqa: E731
    whole = build_tick(store, None, 1000, False, SourceHealth("running"), 0.0, control)
    raised = {(a["seq"], a["rule"]) for a in whole["alarms"]}
    assert (250, "score") in raised and any(rule == "we-1" and seq >= 100 for seq, rule in raised)
    assert raised == {(a.seq, a.rule) for a in store.alarms_between(0, 299)}
    spike = next(a for a in whole["alarms"] if a["seq"] == 250 and a["rule"] == "score")
    assert spike["message"].startswith("value 120 is anomalous")  # the API's wording, English
    assert spike["key"] == "alarm_score" and spike["figures"]["value"] == "120"  # for the page's own language
    assert all(a["key"] == "alarm_spc" for a in whole["alarms"] if a["rule"] == "we-1")
    centre, lcl, ucl = whole["spc"]
    assert lcl < centre < ucl and 80 < centre < 90
    delta = build_tick(store, 260, 1000, False, SourceHealth("running"), 0.0, control)
    assert "alarms" not in delta and len(delta["ts"]) == 39


def test_alarms_survive_a_restart_and_detectors_resume_calibrated(tmp_path):
    env = {"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_RETENTION_DAYS": "36500"}
    values = temperature(1000, seed=7)
    values[800] += 20
    first = create_app(Config.from_env(env))
    try:
        post(first.server.test_client(), START + 300 * np.arange(1000), values)
    finally:
        first.server.extensions["linewatch"].stop()
    second = create_app(Config.from_env(env))
    runtime = second.server.extensions["linewatch"]
    try:
        runtime.ensure_started()
        assert [a.seq for a in runtime.stores.find("oven-3").alarms_between(0, 999)] == [800]
        more = temperature(50, seed=8) + (values[-1] - 85)
        post(second.server.test_client(), START + 300 * np.arange(1000, 1050), more)
        alarms = second.server.test_client().get("/api/v1/alarms?line=oven-3").get_json()["alarms"]
    finally:
        runtime.stop()
    assert [a["seq"] for a in alarms] == [800]  # no burst of alarms from a detector starting cold
