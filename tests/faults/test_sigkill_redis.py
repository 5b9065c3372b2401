"""SIGKILL during ingest with STORE=redis: the ingest worker is killed once (and started again)
and one gunicorn worker is killed once (gunicorn replaces it) while clients POST batches with an
Idempotency-Key, retrying each until it is answered 201 (or a 4xx).  Every acknowledged reading
ends up in SQLite exactly once, under the ids its answer named, in order per line."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.ingest_client import post_points
from tests.helpers.processes import ServerProcess, free_port, procfile_web_argv
from tests.helpers.redis_server import RedisServer
from tests.helpers.waiting import wait_until

PER_BATCH = 20


class Client(threading.Thread):
    """One sender of one line: batch after batch, each retried (same key) until it is answered."""

    def __init__(self, url: str, line: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.line, self.stop = url, line, stop
        self.acknowledged: list[tuple[list[float], list[int]]] = []  # values, [first, last] seq
        self.retries = 0
        self.refused: list[tuple[int, dict]] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            values = [n * 1000 + i + 0.25 for i in range(PER_BATCH)]
            points = [{"value": v, "line": self.line} for v in values]
            while True:
                answer = post_points(self.url, points, f"{self.line}-{n}", timeout=15)
                if answer is not None and answer[0] == 201:
                    self.acknowledged.append((values, answer[1]["seqs"][self.line]))
                    break
                if answer is not None and 400 <= answer[0] < 500:
                    self.refused.append(answer)
                    return
                self.retries += 1
                time.sleep(0.05)  # no answer, or 503: the same request again
            n += 1

    def acks(self) -> int:
        return len(self.acknowledged)


def in_redis_not_on_disk(url: str, db: sqlite3.Connection, line: str) -> bool:
    """True when the web serves (from Redis) a reading of ``line`` that SQLite does not have."""
    (last,) = db.execute("SELECT COALESCE(MAX(seq), -1) FROM points WHERE line = ?", (line,)).fetchone()
    with urllib.request.urlopen(f"{url}/api/v1/points?line={line}&since={last}&limit=1", timeout=5) as response:
        return json.loads(response.read())["cursor"] > last


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.server
def test_acknowledged_readings_survive_sigkill_of_the_ingest_worker_and_a_web_worker_once_each(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    env = {"LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": redis.url, "LINEWATCH_DATA_DIR": str(tmp_path / "data"),
           "LINEWATCH_SOURCE": "http", "WEB_CONCURRENCY": "2"}
    port = free_port()
    web = ServerProcess([a.replace("{port}", str(port)) for a in procfile_web_argv()] + ["-w", "2"], env, port,
                        tmp_path / "web.log")
    workers = [ServerProcess([sys.executable, "-m", "app.ingest"], env, 0, tmp_path / "ingest-1.log")]
    db_path = tmp_path / "data" / "linewatch.sqlite3"
    stop = threading.Event()
    clients = [Client(web.url, line, stop) for line in ("line-1", "line-2")]
    try:
        web.wait_ready("/readyz")  # the ingest worker's heartbeat included
        for client in clients:
            client.start()
        total = lambda: sum(client.acks() for client in clients)  # noqa: E731
        wait_until(lambda: total() >= 20, 20, "acknowledged batches before the ingest worker is killed")
        # The worst moment: readings appended to Redis, their key not on disk yet.  Holding SQLite's
        # write lock stops the worker there (its commit waits), then it is killed.
        with sqlite3.connect(db_path, isolation_level=None) as lock:
            lock.execute("BEGIN IMMEDIATE")
            wait_until(lambda: any(in_redis_not_on_disk(web.url, lock, client.line) for client in clients), 10,
                       "readings in Redis that the worker could not record")
            os.kill(workers[0].proc.pid, signal.SIGKILL)
            workers[0].proc.wait(10)
            lock.execute("ROLLBACK")
        workers.append(ServerProcess([sys.executable, "-m", "app.ingest"], env, 0, tmp_path / "ingest-2.log"))
        after = total()
        wait_until(lambda: total() >= after + 20, 30, "acknowledged batches after the ingest worker's restart")
        before = wait_until(lambda: len(pids := children(web.proc.pid)) == 2 and pids, 20, "gunicorn's 2 workers")
        os.kill(before[0], signal.SIGKILL)
        wait_until(lambda: len(set(children(web.proc.pid)) - set(before)) == 1, 20, "gunicorn's new worker")
        after = total()
        wait_until(lambda: total() >= after + 20, 30, "acknowledged batches after the web worker's replacement")
    finally:
        stop.set()
        for client in clients:
            client.join(30)
        codes = web.stop(), workers[-1].stop()  # SIGTERM: the ingest worker records what is left
        redis.stop()
    assert codes == (0, 0), web.log() + workers[-1].log()
    assert not any(client.is_alive() for client in clients)
    assert [client.refused for client in clients] == [[], []]
    assert sum(client.retries for client in clients) > 0  # the kills were felt
    with sqlite3.connect(db_path) as db:
        for client in clients:
            rows = db.execute("SELECT seq, value FROM points WHERE line = ? ORDER BY seq", (client.line,)).fetchall()
            values = [value for _, value in rows]
            assert len(values) == len(set(values)), f"{client.line}: {len(values) - len(set(values))} duplicate(s)"
            assert values == sorted(values), f"{client.line}: out of order"
            by_seq = dict(rows)
            for sent, (first, last) in client.acknowledged:  # each acknowledged under the ids it was answered
                assert [by_seq.get(seq) for seq in range(first, last + 1)] == sent
            acknowledged = {value for sent, _ in client.acknowledged for value in sent}
            assert set(values) == acknowledged  # nothing else (a batch is retried until it is acknowledged)
