"""/metrics: Prometheus text from each app's own counters, ticks timed around the request."""

from __future__ import annotations

import re
import time

import pytest

from app.web import create_app
from app.config import Config
from app.sources import SourceHealth
from tests.helpers.ticks import tick_request

SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})? (-?[0-9.e+]+|\+Inf)$')


def scrape(client, path="/metrics") -> dict[str, float]:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in response.get_data(as_text=True).splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not exposition format: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def tick(client, user_agent="browser-a"):
    response = client.post("/_dash-update-component", json=tick_request(1, None), headers={"User-Agent": user_agent})
    assert response.status_code == 200
    return response


def test_ticks_latency_and_viewers(client, dash_app):
    before = scrape(client)
    assert before["linewatch_ticks_total"] == 0 and before["linewatch_viewers"] == 0
    for agent in ("browser-a", "browser-b", "browser-a", "browser-a"):
        tick(client, agent)
    client.get("/_dash-layout")  # not a tick
    after = scrape(client)
    assert after["linewatch_ticks_total"] == 4
    assert after["linewatch_tick_duration_seconds_count"] == 4
    assert 0 < after["linewatch_tick_duration_seconds_sum"] < 4
    buckets = [value for key, value in after.items() if key.startswith("linewatch_tick_duration_seconds_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == 4  # cumulative, +Inf holds all
    assert after["linewatch_viewers"] == 2  # two browsers (address + User-Agent), one ticked thrice
    metrics = dash_app.server.extensions["linewatch_metrics"]
    assert metrics.viewers.count(time.time() + 31) == 0  # gone after 30 s without a tick


def test_failed_callback_requests_are_counted_apart(client):
    assert client.post("/_dash-update-component", json={}).status_code == 500
    samples = scrape(client)
    assert samples["linewatch_callback_errors_total"] == 1 and samples["linewatch_ticks_total"] == 0


def test_points_ingested_and_rejected(client, dash_app):
    client.get("/healthz")
    dash_app.server.extensions["linewatch"].source.stop()
    assert client.post("/api/v1/points", json=[{"value": 0.1}, {"value": 0.2, "line": "line-2"}]).status_code == 201
    assert client.post("/api/v1/points", json=[{"value": "high"}]).status_code == 400
    samples = scrape(client)
    assert samples["linewatch_points_ingested_total"] == 2
    assert samples["linewatch_points_rejected_total"] == 1
    assert samples['linewatch_store_points{line="line-2"}'] == 1


def test_source_state_is_a_state_set(client, dash_app):
    client.get("/healthz")
    running = scrape(client)
    assert running['linewatch_source_state{source="simulator",state="running"}'] == 1
    assert sum(v for k, v in running.items() if k.startswith("linewatch_source_state")) == 1
    assert running["linewatch_ready"] == 1
    source = dash_app.server.extensions["linewatch"].source
    source.stop()
    source.health = lambda: SourceHealth("error", "sensor unplugged")
    failed = scrape(client)
    assert failed['linewatch_source_state{source="simulator",state="error"}'] == 1
    assert failed['linewatch_source_state{source="simulator",state="running"}'] == 0
    assert failed["linewatch_ready"] == 0


def test_metrics_answer_while_the_store_cannot(client, dash_app, monkeypatch):
    from app.store import MemoryStore

    def unavailable(self):
        raise RuntimeError("store unavailable: Redis is not answering")

    client.get("/healthz")
    assert scrape(client)["linewatch_store_up"] == 1
    monkeypatch.setattr(MemoryStore, "stats", unavailable)
    monkeypatch.setattr(dash_app.server.extensions["linewatch"], "readiness", lambda: {"ready": False})
    samples = scrape(client)
    assert samples["linewatch_store_up"] == 0 and samples["linewatch_ready"] == 0
    assert not any(key.startswith("linewatch_store_points") for key in samples)


def test_each_app_has_its_own_registry_and_metrics_live_under_the_prefix(tmp_path, client):
    tick(client)
    other = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "other"),
                                        "LINEWATCH_URL_PREFIX": "/tools/lw/"}))
    try:
        other_client = other.server.test_client()
        assert scrape(other_client, "/tools/lw/metrics")["linewatch_ticks_total"] == 0
        assert scrape(client)["linewatch_ticks_total"] == 1
    finally:
        other.server.extensions["linewatch"].stop()


@pytest.mark.parametrize("value, text", [(0, "0"), (0.25, "0.25"), (3, "3")])
def test_numbers_in_exposition_format(value, text):
    from app.metrics import _number

    assert _number(value) == text
