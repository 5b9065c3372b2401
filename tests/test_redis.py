"""LINEWATCH_STORE=redis: the Redis Streams store against a private redis-server, and a real
deployment (gunicorn with 4 workers + the ingest worker) under 20 polling clients, through a
Redis outage, and in headless Chromium.  Never the system Redis: every server here is
started by the tests on a free port (tests/helpers/redis_server.py)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from app.alarm_book import AlarmBook, MemoryLedger
from app.config import Config
from app.ingest import Ingestor
from app.points import DEFAULT_LINE, PointBatch, Thresholds
from app.readings import Readings
from app.recorder import Retention
from app.runtime import refuse_memory_store_with_workers
from app.store import StoreUnavailable
from app.store.redis.control import counters, read_gaps, set_ready
from app.store.redis.keys import points_key
from app.store.redis.link import RedisLink
from app.store.redis.stream import RedisLineStores, RedisStore
from app.store.redis.write_behind import BufferedLineStores
from layouts import ids
from tests.helpers import page as foundation
from tests.helpers.browser import ConsoleLog
from tests.helpers.processes import ServerProcess, free_port
from tests.helpers.redis_server import RedisServer
from tests.helpers.ticks import post_tick, seqs
from tests.helpers.receiver import Receiver
from tests.helpers.waiting import wait_until

LINE = DEFAULT_LINE


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own, to kill, freeze and restart; stopped whatever happens."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def link(redis_server):
    link = RedisLink.from_url(redis_server.url)
    link.client.flushdb()
    set_ready(link)
    yield link
    link.client.close()


def mark_ready(server: RedisServer) -> None:
    """What the ingest worker does once a restarted Redis is filled (from its own connection)."""
    set_ready(RedisLink.from_url(server.url))


def store_of(link, capacity=100) -> RedisStore:
    return RedisLineStores(link, capacity).get(LINE)


def available(call):
    """``call()``, or None while the store is unavailable (for ``wait_until``)."""
    try:
        return call()
    except StoreUnavailable:
        return None


def append_n(store, n, start=0.0):
    values = np.arange(start, start + n, dtype=float)
    return store.append(values, values, values / 1e9)


# --- what only the Redis store does (tests/test_store.py checks the shared contract) --------

def test_sequence_ids_are_stream_entry_ids_per_line(link):
    store = store_of(link)
    assert append_n(store, 3).tolist() == [0, 1, 2]
    assert store.since(0).prob.tolist() == [1e-9, 2e-9]  # exact doubles
    assert link.client.xrange(points_key(LINE), count=1)[0][0] == b"0-1"  # entry id = seq + 1
    assert RedisStore(link, "another-line", 100).since(-1).seq.tolist() == []  # lines never mix


def test_approximate_maxlen_keeps_memory_bounded(link):
    busy = RedisStore(link, "busy", capacity=100)
    for i in range(100):
        append_n(busy, 30, start=30 * i)
    held = link.client.xlen(points_key("busy"))
    assert 100 <= held < 100 + 250  # XADD MAXLEN ~ trims whole stream nodes
    assert busy.since(-1).seq.tolist() == list(range(2900, 3000))  # readers still see exactly the capacity


def test_load_after_handed_out_ids_never_reuses_them(link):
    other = RedisStore(link, "line-2", 10)
    other.load(PointBatch(np.arange(40, 44), np.arange(4.0), np.arange(4.0), np.zeros(4)), next_seq=50)
    assert append_n(other, 1).tolist() == [50]  # ids up to 49 were handed out before: never again


def test_a_retried_batch_is_stored_once(link):
    store = store_of(link)
    first = store.append([1.0, 2.0], [0.1, 0.2], [0.0, 0.0], token="batch-1")
    again = store.append([1.0, 2.0], [0.1, 0.2], [0.0, 0.0], token="batch-1")  # the reply had been lost
    assert first.tolist() == again.tolist() == [0, 1]
    assert store.since(-1).seq.tolist() == [0, 1]


def test_an_unfilled_store_answers_store_unavailable(link):
    store = store_of(link)
    link.client.delete("linewatch:ready")  # Redis restarted empty; the ingest worker has not refilled it yet
    for call in (lambda: store.since(-1), lambda: store.tail(5), store.stats, lambda: append_n(store, 1)):
        with pytest.raises(StoreUnavailable, match="not filled yet"):
            call()
    assert link.client.exists(points_key(LINE)) == 0  # nothing was half-written
    set_ready(link)
    assert append_n(store, 1).tolist() == [0]


def test_a_dead_redis_fails_fast_logs_once_and_recovers(private_redis, caplog):
    server = private_redis
    link = RedisLink.from_url(server.url)
    set_ready(link)
    store = store_of(link)
    append_n(store, 3)
    server.kill()
    caplog.set_level(logging.INFO, logger="app.store.redis")
    started = time.monotonic()
    for _ in range(50):
        with pytest.raises(StoreUnavailable, match="not answering"):
            store.since(0)
    assert time.monotonic() - started < 1.0  # no timeout per call: one probe per RETRY_S
    server.start()  # same port, no data
    mark_ready(server)
    assert wait_until(lambda: available(store.stats), 5, "the next probe to find Redis back").next_seq == 0
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if m.startswith("store unavailable")]) == 1, messages
    assert len([m for m in messages if m.startswith("store available again")]) == 1, messages


def test_the_ingest_buffer_holds_points_while_redis_is_frozen_and_sends_each_once(private_redis):
    server = private_redis
    link = RedisLink.from_url(server.url)
    set_ready(link)
    buffer = BufferedLineStores(RedisLineStores(link, 1000))
    view = buffer.get(LINE)
    assert append_n(view, 5).tolist() == [0, 1, 2, 3, 4]
    server.pause()  # SIGSTOP: the next append times out, and may still run when Redis wakes up
    assert append_n(view, 5, 5).tolist() == []
    started = time.monotonic()
    for i in range(12):
        assert append_n(view, 5, 10 + 5 * i).tolist() == []
    assert time.monotonic() - started < 0.5  # no waiting on timeouts meanwhile: they wait in order
    assert buffer.waiting == 65
    server.resume()
    wait_until(buffer.drain, 5, "the buffer to drain")
    stored = RedisStore(link, LINE, 1000).since(-1)
    assert stored.seq.tolist() == list(range(70))
    assert stored.value.tolist() == [float(v) for v in range(70)]  # once each: the timed-out batch and its retry


def test_readings_held_while_redis_is_away_are_ingested_and_their_alarms_stay_in_the_event_log(private_redis,
                                                                                             caplog):
    """The ingest worker's Ingestor tells the alarm book only about readings that got their ids."""
    link = RedisLink.from_url(private_redis.url)
    set_ready(link)
    book = AlarmBook(MemoryLedger())
    ingestor = Ingestor(BufferedLineStores(RedisLineStores(link, 1000)), SimpleNamespace(make_room=lambda *a: None),
                        book=book)
    private_redis.kill()
    defective = Readings(1.8e9 + np.arange(3.0), np.full(3, 0.9), np.full(3, 0.99), [LINE] * 3)
    assert ingestor.ingest(defective, durable=False) == {LINE: []}  # held, no ids yet: no error
    assert book.query() == [] and "not booked in the alarm book" in caplog.text


def test_the_ingest_buffer_is_bounded_and_keeps_the_newest_points(private_redis, caplog):
    server = private_redis
    link = RedisLink.from_url(server.url)
    set_ready(link)
    buffer = BufferedLineStores(RedisLineStores(link, 1000), bound=20)
    view = buffer.get(LINE)
    server.kill()
    caplog.set_level(logging.INFO, logger="app.store.redis")
    for i in range(6):
        append_n(view, 5, 5 * i)
    assert buffer.waiting == 20 and buffer.dropped == 10
    server.start()
    mark_ready(server)
    wait_until(buffer.drain, 5, "the next probe to find Redis back and the buffer to drain")
    assert RedisStore(link, LINE, 1000).since(-1).value.tolist() == [float(v) for v in range(10, 30)]
    messages = " | ".join(record.getMessage() for record in caplog.records)
    assert "INGEST_BUFFER_POINTS=20" in messages and "10 older ones were dropped" in messages


def test_a_refill_after_redis_lost_its_data_reuses_no_id_and_reports_the_gap(tmp_path, link):
    from app.ingest.__main__ import StreamRecorder

    stores = RedisLineStores(link, 1000)
    buffer = BufferedLineStores(stores)
    recorder = StreamRecorder(tmp_path, stores, buffer, Thresholds(0.5, 0.5), Retention())
    recorder.seed()
    view = buffer.get(LINE)
    append_n(view, 50)
    recorder.record()  # 0..49 on disk
    append_n(view, 10, 50)  # 50..59 in Redis, not recorded yet
    stores.get(LINE).append([1.0, 2.0], [7.0, 7.0], [0.0, 0.0])  # 60..61 from a web process (HTTP ingest)
    ready, last_ids = counters(link)
    buffer.observe(LINE, last_ids[LINE])  # what the worker's supervisor watches
    link.client.flushdb()  # Redis restarted without its data

    recorder.seed()
    refilled = stores.get(LINE).since(-1)
    assert refilled.seq.tolist() == list(range(60))  # SQLite's 50 and the worker's 10 unrecorded
    assert refilled.value.tolist() == [float(v) for v in range(60)]
    assert read_gaps(link)[LINE] == {**read_gaps(link)[LINE], "first": 60, "last": 61, "lost": 2}
    assert append_n(view, 1).tolist() == [62]  # 60 and 61 meant other points: never reused
    recorder.record()
    recorded = sqlite3.connect(recorder.path).execute("SELECT seq FROM points ORDER BY seq").fetchall()
    assert [row[0] for row in recorded] == list(range(60)) + [62]

    stores.get(LINE).append([3.0, 4.0], [8.0, 8.0], [0.0, 0.0])  # 63..64 from a web process, never recorded
    recorder.remember_handed_out(counters(link)[1])  # the supervisor keeps the highest ids on disk
    link.client.flushdb()  # Redis lost its data again, and the worker too: a new one starts
    fresh_stores = RedisLineStores(link, 1000)
    fresh = StreamRecorder(tmp_path, fresh_stores, BufferedLineStores(fresh_stores), Thresholds(0.5, 0.5), Retention())
    fresh.load_cursors()
    fresh.seed()
    assert fresh_stores.get(LINE).since(-1).seq.tolist()[-3:] == [58, 59, 62]
    assert read_gaps(link)[LINE]["first"] == 63 and read_gaps(link)[LINE]["lost"] == 2
    assert append_n(fresh_stores.get(LINE), 1).tolist() == [65]


def test_refuse_memory_store_with_workers_names_the_redis_store(tmp_path):
    memory = Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path)})
    with pytest.raises(SystemExit, match="LINEWATCH_STORE=redis") as refused:
        refuse_memory_store_with_workers(memory, 2)
    assert "\n" not in str(refused.value.code)
    refuse_memory_store_with_workers(memory, 1)
    refuse_memory_store_with_workers(Config.from_env({"LINEWATCH_STORE": "redis"}), 4)


# --- real processes ------------------------------------------------------------------------

def gunicorn_conf(tmp_path, body: str = "") -> str:
    """A gunicorn config file for the tests (the repository's gunicorn.conf.py is not theirs)."""
    path = tmp_path / f"gunicorn-{free_port()}.conf.py"
    path.write_text("control_socket_disable = True\n" + body)
    return str(path)


def gunicorn_argv(conf: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", conf, "app.wsgi:server", "-w", str(workers),
            "--worker-class", "gthread", "--threads", "4", "-b", "127.0.0.1:{port}"]


TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n((?:[ \t]+.*\n)+)(\S.*)")
GUNICORN_HALT = "gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>"


def without_gunicorn_halt_tracebacks(log: str) -> str:
    """``log`` minus gunicorn's own arbiter traceback for a worker that failed to boot.

    When both workers refuse at about the same time, gunicorn's arbiter sometimes reaps the second
    one while halting for the first and prints its HaltServer unhandled (a race inside gunicorn,
    frames only in gunicorn and runpy).  Any other traceback stays in the text."""
    def drop(match: re.Match) -> str:
        files = re.findall(r'File "([^"]+)"', match.group(1))
        inside_gunicorn = all("/gunicorn/" in path or path.startswith("<frozen") for path in files)
        return "" if match.group(2) == GUNICORN_HALT and inside_gunicorn else match.group(0)

    return TRACEBACK.sub(drop, log)


def test_only_gunicorns_own_halt_traceback_is_set_aside():
    halt = ('Traceback (most recent call last):\n  File "/x/gunicorn/arbiter.py", line 270, in run\n'
            f'    handler()\n{GUNICORN_HALT}\n')
    ours = ('Traceback (most recent call last):\n  File "/repo/app/runtime.py", line 9, in refuse\n'
            f'    raise SystemExit(3)\n{GUNICORN_HALT}\n')
    assert "Traceback" not in without_gunicorn_halt_tracebacks(f"boot\n{halt}\nDuring handling\n\n{halt}")
    assert "Traceback" in without_gunicorn_halt_tracebacks(halt + ours)
    assert "Traceback" in without_gunicorn_halt_tracebacks(halt.replace("' 3>", "' 4>"))


@pytest.mark.server
def test_gunicorn_with_two_workers_refuses_the_memory_store(tmp_path):
    env = {"LINEWATCH_STORE": "memory", "LINEWATCH_DATA_DIR": str(tmp_path / "data")}
    hook = ("import os\n"
            "def on_starting(server):\n"
            "    from app.config import Config\n"
            "    from app.runtime import refuse_memory_store_with_workers\n"
            "    refuse_memory_store_with_workers(Config.from_env(os.environ), server.cfg.workers)\n")
    servers = []
    for conf in (gunicorn_conf(tmp_path), gunicorn_conf(tmp_path, hook)):  # without and with the conf hook
        port = free_port()
        argv = [a.replace("{port}", str(port)) for a in gunicorn_argv(conf, 2)]
        servers.append(ServerProcess(argv, env, port, tmp_path / f"refused-{port}.log"))
    for server in servers:
        server.proc.wait(60)
        log = server.log()
        assert server.proc.returncode != 0, log
        assert re.search(r"LINEWATCH_STORE=memory keeps the points inside one process.*set LINEWATCH_STORE=redis",
                         log), log
        assert "Traceback" not in without_gunicorn_halt_tracebacks(log), log

class Deployment:
    def __init__(self, tmp, redis: RedisServer, worker: ServerProcess, web: ServerProcess, access_log) -> None:
        self.tmp, self.redis, self.worker, self.web, self.access_log = tmp, redis, worker, web, access_log
        self.url = web.url
        self.db = tmp / "data" / "linewatch.sqlite3"

    def alive(self) -> bool:
        return self.worker.proc.poll() is None and self.web.proc.poll() is None

    def served_by(self, path: str = "") -> set[str]:
        """The gunicorn worker pids in the access log (for requests to ``path``, or any)."""
        return {line.split()[0] for line in self.access_log.read_text().splitlines() if line.endswith(path)}

    def readiness(self) -> dict | None:
        """/readyz's answer once it says ready (200), else None; raises if a process died."""
        if not self.alive():
            raise RuntimeError(f"a process exited:\n{self.worker.log()}\n{self.web.log()}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, urllib.error.HTTPError):
            return None

    def wait_ready(self, timeout: float = 30.0) -> dict:
        try:
            return wait_until(self.readiness, timeout, "/readyz", interval=0.2)
        except AssertionError:
            raise RuntimeError(f"not ready:\n{self.worker.log()}\n{self.web.log()}") from None


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Seeded history, a private Redis, `python -m app.ingest` (replaying a line) and gunicorn -w 4 reading Redis."""
    tmp = tmp_path_factory.mktemp("redis-deployment")
    foundation.seed_history(tmp / "data")
    # A calm line at 10 points/s, replayed in a loop: the seeded anomalies stay the only ones (the
    # simulator's random defect bursts would add more rows than the grid renders in the viewport).
    calm = tmp / "calm.csv"
    steps = np.arange(600)
    calm.write_text("ts,value,defect_prob\n" + "".join(
        f"{1.7e9 + 0.1 * i:.1f},{0.4 + 0.01 * np.sin(i / 7):.4f},0.05\n" for i in steps))
    redis = RedisServer(tmp / "redis").start()
    webhooks = Receiver()
    env = {"LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": redis.url, "LINEWATCH_DATA_DIR": str(tmp / "data"),
           "LINEWATCH_SOURCE": "replay", "LINEWATCH_REPLAY_FILE": str(calm), "LINEWATCH_REPLAY_LOOP": "1",
           "LINEWATCH_WEBHOOK_URL": webhooks.url}
    worker = ServerProcess([sys.executable, "-m", "app.ingest"], env, 0, tmp / "worker.log")
    port = free_port()
    access_log = tmp / "access.log"
    argv = [a.replace("{port}", str(port)) for a in gunicorn_argv(gunicorn_conf(tmp), 4)]
    argv += ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(U)s"]
    web = ServerProcess(argv, env, port, tmp / "web.log")
    deployment = Deployment(tmp, redis, worker, web, access_log)
    deployment.webhooks = webhooks
    try:
        web.wait_ready()
        deployment.wait_ready()
        yield deployment
    finally:
        codes = web.stop(), worker.stop()
        redis.stop()
        webhooks.close()
    assert codes == (0, 0), f"{web.log()}\n{worker.log()}"  # both stopped cleanly on SIGTERM


@pytest.mark.browser
@pytest.mark.server
def test_the_foundation_page_works_on_the_redis_deployment(deployment, browser, tmp_path):
    foundation.check_live_page(deployment, browser, tmp_path)


class Poller(threading.Thread):
    """One browser's ticks, as the page sends them: its own cursor, whatever worker answers."""

    def __init__(self, url: str, stop: threading.Event, period: float = 0.3) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.period = url, stop, period
        self.cursor = None
        self.points: list[tuple[int, float, float]] = []  # seq, ts, value
        self.resets = 0
        self.unavailable = 0
        self.failures: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                tick = post_tick(self.url, n, self.cursor)
            except Exception as exc:  # an HTTP error or a timeout: never expected
                self.failures.append(repr(exc))
            else:
                if tick.get("error"):
                    if tick.get("store") == "unavailable":
                        self.unavailable += 1
                    else:
                        self.failures.append(tick["error"])
                else:
                    self.resets += tick.get("reset", False)
                    self.points += zip(seqs(tick), tick["ts"], tick["value"])
                    self.cursor = tick["cursor"]
            self.stop.wait(self.period)

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _, _ in self.points]


def poll(url: str, clients: int = 20) -> tuple[list[Poller], threading.Event]:
    stop = threading.Event()
    pollers = [Poller(url, stop) for _ in range(clients)]
    for poller in pollers:
        poller.start()
    return pollers, stop


def finish(pollers: list[Poller], stop: threading.Event) -> None:
    stop.set()
    for poller in pollers:
        poller.join(10)


def one_value_per_seq(pollers: list[Poller]) -> dict[int, tuple[float, float]]:
    """Every client got the same point for the same id (no id was ever given to two points)."""
    canonical: dict[int, tuple[float, float]] = {}
    for poller in pollers:
        for seq, ts, value in poller.points:
            assert canonical.setdefault(seq, (ts, value)) == (ts, value), f"seq {seq} means two points"
    return canonical


@pytest.mark.server
def test_twenty_clients_see_every_point_once_in_order_whichever_worker_answers(deployment):
    streamed_to = deployment.wait_ready()["store"]["next_seq"] + 30
    pollers, stop = poll(deployment.url)
    # a while of polling: every client had its window, then 3 s of the stream (30 points) in deltas
    wait_until(lambda: all(p.seqs and p.seqs[-1] >= streamed_to for p in pollers), 20,
               "every client to see 3 s of the stream")
    finish(pollers, stop)
    for poller in pollers:
        assert poller.failures == [] and poller.unavailable == 0
        assert poller.resets == 1  # the first tick sends the window; after that only deltas
        seqs = poller.seqs
        assert len(seqs) >= 200 and seqs == list(range(seqs[0], seqs[-1] + 1))  # every point once, in order
    one_value_per_seq(pollers)
    served_by = deployment.served_by("/_dash-update-component")
    assert len(served_by) >= 2, served_by  # several gunicorn workers answered, from one shared stream

    # HTTP ingest on any worker: appended to Redis, recorded by the ingest worker before the answer
    body = json.dumps([{"value": 0.5, "line": "line-7"}, {"value": 0.9, "defect_prob": 0.99, "line": "line-7"}])
    request = urllib.request.Request(deployment.url + "/api/v1/points", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201 and json.loads(response.read())["seqs"] == {"line-7": [0, 1]}
    recorded = sqlite3.connect(deployment.db).execute("SELECT seq, value FROM points WHERE line = 'line-7'")
    assert recorded.fetchall() == [(0, 0.5), (1, 0.9)]
    with urllib.request.urlopen(deployment.url + "/api/v1/points?line=line-7", timeout=5) as response:
        assert json.loads(response.read())["points"]["value"] == [0.5, 0.9]

    def fetch_alerts() -> list[dict]:
        with urllib.request.urlopen(deployment.url + "/api/v1/alerts?limit=10000", timeout=5) as response:
            return json.loads(response.read())["alerts"]

    alerts = wait_until(lambda: (found := fetch_alerts()) and any(a["line"] == "line-7" for a in found) and found,
                        10, "line-7's alert (the alerts stream follows the recorder)")
    seeded = [a for a in alerts if a["line"] == LINE and a["seq"] < foundation.SEEDED]
    assert len(seeded) >= len(foundation.MODERATE) + len(foundation.SEVERE)  # refilled from SQLite at start
    assert any(a["line"] == "line-7" and a["seq"] == 1 for a in alerts)


@pytest.mark.browser
@pytest.mark.server
def test_a_redis_outage_under_load_says_store_unavailable_and_recovers_without_duplicates(deployment, browser):
    page = browser.new_page(locale="en-US")
    console = ConsoleLog(page)
    page.goto(deployment.url.rstrip("/") + "/line/line-1")
    foundation.wait_text(page, ids.KPI_STATUS, "Live")
    pollers, stop = poll(deployment.url)
    wait_until(lambda: all(p.resets and p.cursor is not None for p in pollers), 10, "every client's first window")

    deployment.redis.kill()  # no persistence: everything in Redis is gone
    killed_at = time.time()
    foundation.wait_text(page, ids.KPI_STATUS, "Store unavailable")
    assert "lw-status-unavailable" in page.get_attribute(f"#{ids.KPI_STATUS_CARD}", "class")
    page.wait_for_selector(f"#{ids.ERROR_BANNER}", state="visible")
    assert foundation.text(page, ids.ERROR_BANNER).startswith("Error: Store unavailable — Redis at 127.0.0.1:")
    with pytest.raises(urllib.error.HTTPError) as unready:
        urllib.request.urlopen(deployment.url + "/readyz", timeout=5)
    assert unready.value.code == 503 and json.loads(unready.value.read())["store"]["state"] == "unavailable"
    request = urllib.request.Request(deployment.url + "/api/v1/points", data=b'[{"value": 0.5}]',
                                     headers={"Content-Type": "application/json"})
    for attempt in (request, deployment.url + "/api/v1/points?since=0"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(attempt, timeout=5)
        assert refused.value.code == 503
        assert json.loads(refused.value.read())["error"].startswith("store unavailable: Redis at 127.0.0.1:")
    time.sleep(max(0.0, killed_at + 10 - time.time()))  # the outage lasts 10 s: its length IS the test

    deployment.redis.start()  # same port, empty: the ingest worker refills it from SQLite
    restarted_at = time.time()
    foundation.wait_text(page, ids.KPI_STATUS, "Live")
    page.wait_for_selector(f"#{ids.ERROR_BANNER}", state="hidden")
    recovered = deployment.wait_ready()
    newest = recovered["store"]["next_seq"] - 1  # made after the restart: every client must get past it
    wait_until(lambda: all(p.seqs and p.seqs[-1] >= newest for p in pollers), 15,
               "every client to catch up past the outage")
    finish(pollers, stop)

    assert deployment.alive()  # nothing crashed
    gaps = recovered["store"].get("gaps", {})
    lost = {seq for gap in gaps.values() for seq in range(gap["first"], gap["last"] + 1)}
    canonical = one_value_per_seq(pollers)
    for poller in pollers:
        assert poller.failures == [] and poller.unavailable > 0
        assert poller.resets == 1  # the cursor carried on: no window was sent again
        seqs = poller.seqs
        assert seqs == sorted(set(seqs))  # no duplicate, no reordering
        assert set(range(seqs[0], seqs[-1] + 1)) - set(seqs) <= lost  # a gap only where reported
    outage = [ts for ts, _ in canonical.values() if killed_at + 1 < ts < restarted_at - 1]
    assert len(outage) >= 50  # the points made while Redis was away were held and delivered (10/s)
    assert lost == set()  # the worker refilled what it had sent but not recorded: nothing was lost


    def read_recorded() -> dict[int, float]:
        return dict(sqlite3.connect(deployment.db).execute(
            "SELECT seq, value FROM points WHERE line = ? AND seq BETWEEN ? AND ?",
            (LINE, min(canonical), max(canonical))))

    # recorded: every point, once, SQLite and the stream agree (the recorder follows the stream)
    recorded = wait_until(lambda: (rows := read_recorded()) and max(rows) == max(canonical) and rows, 10,
                          "the newest point a client saw in SQLite")
    assert sorted(recorded) == list(range(min(canonical), max(canonical) + 1))
    assert all(float(np.round(recorded[seq], 4)) == value for seq, (_, value) in canonical.items())

    web_log, worker_log = deployment.web.log(), deployment.worker.log()
    assert "Traceback" not in web_log and "Traceback" not in worker_log
    assert 1 <= web_log.count("store unavailable: ") <= 4  # logged once per outage, per serving process
    assert 1 <= web_log.count("store available again") <= web_log.count("store unavailable: ")
    assert "none dropped" in worker_log
    assert console.entries == []
    page.close()


@pytest.mark.server
def test_detection_runs_once_per_line_in_the_ingest_worker_whichever_web_worker_takes_the_readings(deployment):
    """A °C line POSTed in order, each batch on a new connection (so the 4 web workers share it): the
    alarms are those of ONE detector fed the whole series, as in one process."""
    from app.detectors import LineDetector

    values = 85 + np.random.default_rng(11).normal(0, 0.4, 600)
    values[450] = 110.0
    ts = time.time() - 3 * 86400 + 300 * np.arange(600)  # within the 30-day retention

    def post(points: list[dict]) -> dict:
        request = urllib.request.Request(deployment.url + "/api/v1/points", data=json.dumps(points).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            assert response.status == 201
            return json.loads(response.read())

    for start in range(0, 600, 50):
        post([{"ts": float(t), "value": float(v), "line": "oven-9"}
              for t, v in zip(ts[start:start + 50], values[start:start + 50])])
    assert len(deployment.served_by("/api/v1/points")) >= 2
    with urllib.request.urlopen(deployment.url + "/api/v1/alarms?line=oven-9", timeout=5) as response:
        alarms = json.loads(response.read())["alarms"]
    one_detector = LineDetector(Config().line("oven-9").detector_config(0.5, 0.5)).process(ts, values).events
    assert [(a["seq"], a["rule"]) for a in alarms] == [(e.index, e.rule) for e in one_detector] == [(450, "score")]

    # the ticks of every web worker carry the alarm of a reading of the shown line
    seq = post([{"value": 0.9, "defect_prob": 0.99}])["seqs"][DEFAULT_LINE][0]
    ticks = [post_tick(deployment.url, n, seq - 1) for n in range(8)]
    assert all(any(a["id"] == f"{DEFAULT_LINE}/{seq}/threshold" for a in tick.get("alarms", [])) for tick in ticks)


@pytest.mark.server
def test_a_condition_posted_concurrently_to_every_web_worker_is_one_alarm_acknowledged_once(deployment):
    """4 web workers take the readings and the acknowledgements, the ingest worker books the raises
    (app/store/redis/alarm_ledger.py) and copies the book into the SQLite history."""
    line = "vision-race"

    def send(path: str, body) -> int:
        request = urllib.request.Request(deployment.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    episode = [{"value": 0.9, "defect_prob": 0.99, "line": line}, {"value": 0.4, "defect_prob": 0.01, "line": line}]
    with ThreadPoolExecutor(12) as pool:  # each request a new connection, for any of the web workers
        assert set(pool.map(lambda _: send("/api/v1/points", episode), range(24))) == {201}
        with urllib.request.urlopen(f"{deployment.url}/api/v1/alarms?line={line}", timeout=5) as response:
            [alarm] = json.loads(response.read())["alarms"]  # 24 raises of one condition: one alarm
        assert alarm["rule"] == "threshold" and alarm["state"] in ("unacknowledged", "returned-unacknowledged")
        acks = list(pool.map(lambda n: send(f"/api/v1/alarms/{alarm['id']}/ack", {"comment": f"#{n}"}), range(12)))
    assert sorted(acks) == [200] + [409] * 11
    with urllib.request.urlopen(f"{deployment.url}/api/v1/alarms/{alarm['id']}", timeout=5) as response:
        journal = [entry["action"] for entry in json.loads(response.read())["journal"]]
    assert journal[0] == "raise" and journal.count("acknowledge") == 1

    def on_disk():
        with sqlite3.connect(deployment.db) as db:
            return [row[0] for row in db.execute("SELECT action FROM alarm_journal WHERE alarm_id = ? ORDER BY n",
                                                 (alarm["id"],))]
    assert wait_until(lambda: on_disk() == journal or None, 10, "the journal in SQLite")

    def sent():  # the ingest worker sends every process's transitions; a line's first 5 a minute one by one
        return [body["event"] for body in deployment.webhooks.bodies if body.get("alarm", {}).get("id") == alarm["id"]]
    wait_until(lambda: len(sent()) >= min(5, len(journal)), 10, "the webhooks")
    assert sent() == journal[:5]  # each once, though 4 web workers and the ingest worker made them


def test_web_processes_read_the_workers_spc_control_lines_at_most_twice_a_second(link):
    from app.shared_runtime import CONTROL_LINES_CACHE_S, WorkerIngestor, WorkerSource
    from app.store.redis.control import publish_control_lines

    clock = [100.0]
    web = WorkerIngestor(link, WorkerSource(link), timer=lambda: clock[0])
    assert web.control_lines("oven-3") is None  # no SPC rules (yet)
    publish_control_lines(link, {"oven-3": (85.0, 81.1, 88.9)})
    assert web.control_lines("oven-3") is None  # still the value read a moment ago
    clock[0] += CONTROL_LINES_CACHE_S
    assert web.control_lines("oven-3") == (85.0, 81.1, 88.9)
