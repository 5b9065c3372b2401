"""The server tick: a plain function over the store, and the real Dash endpoint."""

import numpy as np
import pytest

from app.sources import SourceHealth
from app.store import MemoryStore
from callbacks.tick import build_tick, error_tick, valid_window
from layouts import ids
from tests.helpers.ticks import seqs, tick_request

RUNNING = SourceHealth("running")


def filled(n, capacity=10_000):
    store = MemoryStore(capacity)
    store.append(np.arange(n) + 1_000.0, np.full(n, 0.4), np.full(n, 0.1))
    return store


def test_first_tick_sends_the_window_and_later_ticks_only_the_delta():
    store = filled(50)
    first = build_tick(store, None, window=20, reset=False, health=RUNNING, now=1.0)
    assert first["reset"] is True and seqs(first) == list(range(30, 50)) and first["cursor"] == 49
    assert first["window"] == 20 and "source" not in first  # running is the default
    store.append([2000.0], [0.61234567], [0.98765432])
    second = build_tick(store, first["cursor"], window=20, reset=False, health=RUNNING, now=2.0)
    assert "reset" not in second and "window" not in second  # only a reset carries them
    assert (seqs(second), second["value"], second["prob"]) == ([50], [0.6123], [0.9877])
    assert second["cursor"] == 50 and second["at"] == 2.0
    idle = build_tick(store, 50, window=20, reset=False, health=RUNNING, now=3.0)
    assert seqs(idle) == [] and idle["cursor"] == 50 and "first" not in idle


@pytest.mark.parametrize("cursor, reason", [(5, "fell more than a window behind"), (500, "ahead of the store")])
def test_a_cursor_that_cannot_continue_gets_the_window_again(cursor, reason):
    tick = build_tick(filled(100), cursor, window=10, reset=False, health=RUNNING, now=0.0)
    assert tick["reset"] is True, reason
    assert seqs(tick) == list(range(90, 100))


def test_a_window_change_resets_even_a_current_cursor():
    tick = build_tick(filled(100), 99, window=30, reset=True, health=RUNNING, now=0.0)
    assert tick["reset"] and len(tick["ts"]) == 30


def test_empty_store_waits_without_points():
    tick = build_tick(MemoryStore(10), None, window=10, reset=False, health=SourceHealth("starting"), now=0.0)
    assert seqs(tick) == [] and tick["cursor"] == -1 and tick["source"] == "starting"
    follow = build_tick(MemoryStore(10), -1, window=10, reset=False, health=RUNNING, now=0.0)
    assert "reset" not in follow


def test_source_errors_travel_with_the_tick():
    tick = build_tick(filled(3), 2, window=10, reset=False, health=SourceHealth("error", "broker gone", 4), now=0.0)
    assert tick["source"] == "error" and tick["message"] == "broker gone" and tick["rejected"] == 4
    assert "rejected" not in build_tick(filled(3), 2, window=10, reset=False, health=RUNNING, now=0.0)
    assert error_tick(7, "boom", 0.0)["cursor"] == 7


def test_window_input_falls_back_while_invalid():
    assert valid_window(5000, 1000) == 5000
    assert valid_window(None, 1000) == 1000
    assert valid_window(3, 1000) == 1000
    assert valid_window(10**7, 1000) == 1000


def test_the_dash_endpoint_answers_a_tick_with_the_delta(client, dash_app):
    store = dash_app.server.extensions["linewatch"].store
    client.get("/healthz")  # first request starts the simulator (50 points/s in tests)
    first = client.post("/_dash-update-component", json=tick_request(1, None)).get_json()
    tick = first["response"][ids.TICK]["data"]
    assert tick["reset"] is True
    cursor = tick["cursor"]
    store.append([9e9], [0.5], [0.5])
    second = client.post("/_dash-update-component", json=tick_request(2, cursor)).get_json()
    delta = second["response"][ids.TICK]["data"]
    assert "reset" not in delta and delta["first"] == cursor + 1
    resized = client.post("/_dash-update-component", json=tick_request(3, delta["cursor"], 10, ids.WINDOW))
    assert resized.get_json()["response"][ids.TICK]["data"]["reset"] is True


def test_a_failing_tick_shows_an_error_and_keeps_the_cursor(client, dash_app, monkeypatch):
    store = dash_app.server.extensions["linewatch"].store

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(store, "since", broken)
    store.append([1.0], [0.5], [0.5])
    response = client.post("/_dash-update-component", json=tick_request(1, -1))
    assert response.status_code == 200
    tick = response.get_json()["response"][ids.TICK]["data"]
    assert tick["error"] == "OSError: disk on fire" and tick["cursor"] == -1
