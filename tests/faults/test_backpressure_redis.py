"""Back-pressure with ``LINEWATCH_STORE=redis`` (a real redis-server): the inbox to the ingest worker
is bounded, a worker that is absent or stalled is refused at once, and the worker's own appends
never trim points from a stream before they are recorded."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from app import backpressure
from app.config import Config
from app.ingest.__main__ import IngestWorker
from app.readings import Readings
from app.store.redis.control import set_ready
from app.store.redis.keys import INBOX_KEY
from app.store.redis.link import RedisLink
from app.web import create_app
from tests.helpers.waiting import wait_until

POINTS = [{"value": 0.4}, {"value": 0.5}]


def recorded(config: Config) -> int:
    with sqlite3.connect(config.data_dir / "linewatch.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM points").fetchone()[0]


@pytest.fixture
def config(tmp_path, redis_server):
    link = RedisLink.from_url(redis_server.url)
    link.client.flushdb()
    link.client.close()
    return Config.from_env({"LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": redis_server.url,
                            "LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})


@pytest.fixture
def held_worker(config):
    """A running ingest worker whose inbox reader stops at its first request until ``release`` is set."""
    worker = IngestWorker(config)
    worker.taken, worker.release = threading.Event(), threading.Event()
    ingest = worker.ingestor.ingest

    def held(*args, **kwargs):
        worker.taken.set()
        worker.release.wait(30)
        return ingest(*args, **kwargs)

    worker.ingestor.ingest = held
    worker.start()
    yield worker
    worker.release.set()
    worker.stop()


def post_in_background(app, answers: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: answers.append(app.server.test_client().post("/api/v1/points",
                                                                                          json=POINTS)))
    thread.start()
    return thread


def test_without_an_ingest_worker_ingest_is_refused_at_once(config):
    link = RedisLink.from_url(config.redis_url)
    set_ready(link)
    app = create_app(config)
    started = time.monotonic()
    answer = app.server.test_client().post("/api/v1/points", json=POINTS)
    assert time.monotonic() - started < 1.0  # not after the 5 s the inbox would have waited
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "python -m app.ingest" in answer.get_json()["error"] and link.client.llen(INBOX_KEY) == 0


def test_a_full_inbox_refuses_with_503_stores_nothing_and_readiness_says_so(config, held_worker, monkeypatch):
    monkeypatch.setattr(backpressure, "INBOX_LIMIT", 3)
    app = create_app(config)
    client = app.server.test_client()
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, message="the worker's heartbeat")
    answers: list = []
    threads = [post_in_background(app, answers)]  # taken by the worker, which holds it
    wait_until(held_worker.taken.is_set, timeout=10, message="the worker taking the first request")
    threads += [post_in_background(app, answers) for _ in range(3)]
    wait_until(lambda: held_worker.link.client.llen(INBOX_KEY) == 3, timeout=10, message="three requests waiting")
    started = time.monotonic()
    refused = client.post("/api/v1/points", json=POINTS)
    assert time.monotonic() - started < 1.0
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert "3 requests wait" in refused.get_json()["error"] and held_worker.link.client.llen(INBOX_KEY) == 3
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["ingest"] == {
        "state": "refused", "message": refused.get_json()["error"], "waiting": 3, "limit": 3}
    held_worker.release.set()
    for thread in threads:
        thread.join(15)
    assert [answer.status_code for answer in answers] == [201] * 4
    assert recorded(config) == 8  # the four taken requests, not the refused one


def test_a_stalled_ingest_worker_is_refused_before_requests_pile_up(config, held_worker, monkeypatch):
    monkeypatch.setattr(backpressure, "STALL_S", 1.0)
    app = create_app(config)
    client = app.server.test_client()
    wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, message="the worker's heartbeat")
    answers: list = []
    held = post_in_background(app, answers)
    wait_until(lambda: client.get("/readyz").get_json()["ingest"]["state"] == "refused", timeout=5,
               message="readiness reporting the stalled worker")
    refused = client.post("/api/v1/points", json=POINTS)
    assert refused.status_code == 503 and "has taken no request for" in refused.get_json()["error"]
    assert held_worker.link.client.llen(INBOX_KEY) == 0
    held_worker.release.set()
    held.join(15)
    assert answers[0].status_code == 201 and recorded(config) == 2


def test_the_workers_fast_appends_never_trim_unrecorded_points_from_the_stream(config, monkeypatch):
    """A replay at high speed in the ingest worker, scaled down: 5,000 readings through a 200-point stream."""
    monkeypatch.setattr(Config, "capacity", 200)
    worker = IngestWorker(config)
    worker.recorder.check()
    worker._supervise_once()  # the store is filled and ready; no background recorder
    for start in range(0, 5000, 100):
        ts = time.time() - 60 + np.arange(start, start + 100) * 1e-3
        worker.ingestor.ingest(Readings(ts, np.full(100, 0.4), np.full(100, np.nan), ["line-1"] * 100),
                               durable=False)
    worker.recorder.record()
    assert recorded(config) == 5000 and worker.recorder.missed == {}
