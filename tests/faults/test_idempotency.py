"""Retries must not duplicate: a request retried with the same Idempotency-Key within 24 h is
answered like the first and stores nothing new (memory store, and STORE=redis through the
ingest worker); the keys are kept on disk with the points."""

from __future__ import annotations

import sqlite3
import time

import pytest

from app.config import Config
from app.ingest.__main__ import IngestWorker
from app.web import create_app
from tests.helpers.waiting import wait_until

POINTS = [{"value": 0.4}, {"value": 0.5, "line": "line-2"}, {"value": 0.6}]


def recorded(data_dir) -> int:
    with sqlite3.connect(data_dir / "linewatch.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM points").fetchone()[0]


def post(client, key: str | None, points=POINTS):
    return client.post("/api/v1/points", json=points, headers={"Idempotency-Key": key} if key else {})


def serving(config: Config):
    app = create_app(config)
    return app, app.server.test_client()


@pytest.fixture
def config(tmp_path):
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})


def test_a_retry_with_the_same_key_is_answered_like_the_first_and_stores_nothing(config):
    app, client = serving(config)
    runtime = app.server.extensions["linewatch"]
    try:
        first = post(client, "order-7f3a")
        assert first.status_code == 201
        assert first.get_json() == {"accepted": 3, "seqs": {"line-1": [0, 1], "line-2": [0, 0]}}
        again = post(client, "order-7f3a")
        assert (again.status_code, again.get_json()) == (first.status_code, first.get_json())
        assert runtime.store.stats().next_seq == 2 and recorded(config.data_dir) == 3
        other = post(client, "order-7f3b")
        assert other.get_json()["seqs"] == {"line-1": [2, 3], "line-2": [1, 1]}
        assert post(client, None).status_code == 201  # no key: stored each time
        assert recorded(config.data_dir) == 9
        assert post(client, "bad key with spaces").status_code == 400
    finally:
        runtime.stop()


def test_keys_survive_a_restart_and_expire_after_24_hours(config):
    app, client = serving(config)
    first = post(client, "k-1").get_json()
    app.server.extensions["linewatch"].stop()
    app, client = serving(config)  # a new process on the same data dir
    runtime = app.server.extensions["linewatch"]
    try:
        assert post(client, "k-1").get_json() == first and recorded(config.data_dir) == 3
        with sqlite3.connect(config.data_dir / "linewatch.sqlite3") as db:
            db.execute("UPDATE idempotency SET created = created - 86401")
        assert post(client, "k-1").get_json()["seqs"]["line-1"] == [2, 3]  # a day later: a new request
        runtime.recorder.enforce_retention(time.time())
        with sqlite3.connect(config.data_dir / "linewatch.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM idempotency").fetchone()[0] == 1  # the expired one is gone
    finally:
        runtime.stop()


def test_with_redis_the_ingest_worker_recognises_a_retried_key(tmp_path, redis_server):
    from app.store.redis.link import RedisLink

    RedisLink.from_url(redis_server.url).client.flushdb()
    config = Config.from_env({"LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": redis_server.url,
                              "LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SOURCE": "http"})
    worker = IngestWorker(config)
    worker.start()
    app, client = serving(config)
    try:
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10, message="the worker's heartbeat")
        first = post(client, "redis-key-1")
        assert first.status_code == 201
        again = post(client, "redis-key-1")
        assert (again.status_code, again.get_json()) == (201, first.get_json())
        assert recorded(config.data_dir) == 3 and worker.stores.get("line-1").stats().next_seq == 2
    finally:
        worker.stop()
