"""/metrics: one registry per app in one process; under gunicorn (gunicorn.conf.py) figures that add
up across the workers and the ingest worker, and gauges computed by the process scraped."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Config
from app.ingest.counts import publish
from app.sources import SourceHealth
from app.store.redis.link import RETRY_S, RedisLink
from app.web import create_app
from tests.helpers.processes import ServerProcess, free_port
from tests.helpers.redis_server import RedisServer
from tests.helpers.ticks import overview_tick_request, tick_request
from tests.helpers.waiting import wait_until

INGESTED = "linewatch_readings_ingested_total"
REJECTED = "linewatch_readings_rejected_total"
LINE_TICKS, OVERVIEW_TICKS = 'linewatch_ticks_total{page="line"}', 'linewatch_ticks_total{page="overview"}'


def samples(text: str) -> dict[str, float]:
    """``name{label="value",...}`` -> value, as prometheus_client's own parser reads the exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sample.labels.items())
            found[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return found


def scrape(client, path="/metrics") -> dict[str, float]:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return samples(response.get_data(as_text=True))


def request(url: str, body=None, headers=None) -> tuple[int, bytes]:
    """One request on a new connection (so gunicorn spreads them over its workers)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def tick(client, user_agent="browser-a"):
    response = client.post("/_dash-update-component", json=tick_request(1, None), headers={"User-Agent": user_agent})
    assert response.status_code == 200
    return response


# --- one process: a registry per app ----------------------------------------------------------

def test_ticks_latency_and_viewers(client, dash_app):
    before = scrape(client)
    assert before[LINE_TICKS] == before[OVERVIEW_TICKS] == 0 and before["linewatch_viewers"] == 0
    for agent in ("browser-a", "browser-b", "browser-a", "browser-a"):
        tick(client, agent)
    for n in (1, 2):  # the plant overview's ticks count apart
        answer = client.post("/_dash-update-component", json=overview_tick_request(n),
                             headers={"User-Agent": "browser-b"})
        assert answer.status_code == 200
    client.get("/_dash-layout")  # not a tick
    after = scrape(client)
    assert (after[LINE_TICKS], after[OVERVIEW_TICKS]) == (4, 2)
    assert after['linewatch_tick_duration_seconds_count{page="line"}'] == 4
    assert after['linewatch_tick_duration_seconds_count{page="overview"}'] == 2
    assert 0 < after['linewatch_tick_duration_seconds_sum{page="line"}'] < 4
    buckets = [value for key, value in after.items()
               if key.startswith("linewatch_tick_duration_seconds_bucket") and 'page="line"' in key]
    assert buckets == sorted(buckets) and buckets[-1] == 4  # cumulative, +Inf holds all
    assert after["linewatch_viewers"] == 2  # two browsers (address + User-Agent), one ticked thrice
    metrics = dash_app.server.extensions["linewatch_metrics"]
    assert metrics.viewers.count(time.time() + 31) == 0  # gone after 30 s without a tick


def test_failed_callback_requests_are_counted_apart(client, dash_app, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the callback failed")

    monkeypatch.setitem(dash_app.callback_map["tick.data"], "callback", fail)
    assert client.post("/_dash-update-component", json=tick_request(1, None)).status_code == 500
    assert client.post("/_dash-update-component", json={}).status_code == 400  # the policy's refusal: not Dash's
    figures = scrape(client)
    assert figures["linewatch_callback_errors_total"] == 1 and figures[LINE_TICKS] == 0


def test_readings_ingested_and_rejected(client, dash_app):
    client.get("/healthz")
    dash_app.server.extensions["linewatch"].source.stop()
    before = scrape(client)
    assert client.post("/api/v1/points", json=[{"value": 0.1}, {"value": 0.2, "line": "line-2"}]).status_code == 201
    assert client.post("/api/v1/points", json=[{"value": "high"}]).status_code == 400
    after = scrape(client)
    assert after[INGESTED] - before[INGESTED] == 2
    assert after[REJECTED] - before[REJECTED] == 1
    assert after['linewatch_store_points{line="line-2"}'] == 1


def test_the_simulators_readings_are_counted_where_they_are_stored(client, dash_app):
    runtime = dash_app.server.extensions["linewatch"]
    client.get("/healthz")  # starts the simulator (50 readings/s)
    wait_until(lambda: scrape(client)[INGESTED] >= 10, 5, "the simulator's first readings")
    runtime.source.stop()
    figures = scrape(client)
    assert figures[INGESTED] >= 10
    assert figures[INGESTED] == runtime.ingestor.accepted == figures['linewatch_store_next_seq{line="line-1"}']


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
    figures = scrape(client)
    assert figures["linewatch_store_up"] == 0 and figures["linewatch_ready"] == 0
    assert not any(key.startswith("linewatch_store_points") for key in figures)


def test_each_app_has_its_own_registry_and_metrics_live_under_the_prefix(tmp_path, client):
    tick(client)
    other = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "other"),
                                        "LINEWATCH_URL_PREFIX": "/tools/lw/", "LINEWATCH_SOURCE": "http"}))
    try:
        other_client = other.server.test_client()
        assert other_client.post("/tools/lw/api/v1/points", json=[{"value": 0.1}]).status_code == 201
        theirs = scrape(other_client, "/tools/lw/metrics")
        assert theirs[LINE_TICKS] == 0 and theirs[INGESTED] == 1
        assert scrape(client)[LINE_TICKS] == 1
    finally:
        other.server.extensions["linewatch"].stop()


def test_openmetrics_when_the_scraper_asks_for_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.get_data(as_text=True).endswith("# EOF\n")


@pytest.mark.server
def test_python_m_app_keeps_a_registry_of_its_own(start_server):
    server = start_server({"LINEWATCH_SOURCE": "http"})
    for n in (3, 4):
        assert request(server.url + "/api/v1/points", [{"value": 0.5}] * n)[0] == 201
    assert request(server.url + "/_dash-update-component", tick_request(1, None))[0] == 200
    status, body = request(server.url + "/metrics")
    assert status == 200
    figures = samples(body.decode())
    assert (figures[INGESTED], figures[LINE_TICKS], figures["linewatch_viewers"]) == (7, 1, 1)
    # a plain registry (multiprocess mode has no _created samples)
    assert 'linewatch_ticks_created{page="line"}' in figures


# --- LINEWATCH_STORE=redis in one process: viewers and the remote ingest worker's figures ----

@pytest.fixture
def redis_apps(tmp_path):
    """Two apps (as two web processes would be) on a private Redis."""
    with RedisServer(tmp_path / "redis") as redis:
        apps = [create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / f"data-{n}"),
                                            "LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": redis.url}))
                for n in range(2)]
        yield redis, apps


def test_viewers_are_counted_in_redis_for_every_process(redis_apps):
    _, (one, other) = redis_apps
    tick(one.server.test_client(), "browser-a")
    tick(other.server.test_client(), "browser-a")  # the same browser, answered by another process
    tick(other.server.test_client(), "browser-b")
    assert scrape(one.server.test_client())["linewatch_viewers"] == 2
    assert scrape(other.server.test_client())["linewatch_viewers"] == 2
    assert one.server.extensions["linewatch_metrics"].viewers.count(time.time() + 31) == 0


def test_figures_an_ingest_worker_published_in_redis_are_added(redis_apps):
    redis, (one, _) = redis_apps
    link = RedisLink.from_url(redis.url)
    publish(link, "plant-2:41:1700000000", ingested=5, rejected=1)
    publish(link, "plant-2:57:1700000900", ingested=3, rejected=0)  # the worker restarted: both runs count
    assert (scrape(one.server.test_client())[INGESTED], scrape(one.server.test_client())[REJECTED]) == (8, 1)
    publish(link, "plant-2:57:1700000900", ingested=4, rejected=0)
    redis.pause()  # Redis frozen: the last figures read stand in
    try:
        assert scrape(one.server.test_client())[INGESTED] == 8
    finally:
        redis.resume()
    wait_until(lambda: scrape(one.server.test_client())[INGESTED] == 9, 2 * RETRY_S + 2, "the new figures")


# --- gunicorn (gunicorn.conf.py): multiprocess mode -----------------------------------------

class Deployment:
    """A private Redis, ``python -m app.ingest`` and gunicorn with the repository's gunicorn.conf.py."""

    def __init__(self, tmp: Path, env: dict[str, str], web_env: dict[str, str], worker_env: dict[str, str],
                 gunicorn_args: list[str]) -> None:
        self.redis = RedisServer(tmp / "redis").start()
        env = {"LINEWATCH_STORE": "redis", "LINEWATCH_REDIS_URL": self.redis.url,
               "LINEWATCH_DATA_DIR": str(tmp / "data"), **env}
        self.worker = ServerProcess([sys.executable, "-m", "app.ingest"], {**env, **worker_env}, 0, tmp / "worker.log")
        port = free_port()
        self.access_log = tmp / "access.log"
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:server",
                "-b", f"127.0.0.1:{port}", "--access-logfile", str(self.access_log),
                "--access-logformat", "%(p)s %(U)s", *gunicorn_args]
        self.web = ServerProcess(argv, {**env, **web_env}, port, tmp / "web.log")
        self.url = self.web.url

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.web.wait_ready()
        try:
            wait_until(lambda: self.worker.proc.poll() is not None or request(self.url + "/readyz")[0] == 200,
                       timeout, "/readyz", interval=0.2)
        except AssertionError:
            raise RuntimeError(f"not ready:\n{self.worker.log()}\n{self.web.log()}") from None
        if self.worker.proc.poll() is not None:
            raise RuntimeError(f"the ingest worker exited:\n{self.worker.log()}")

    def scrape(self) -> dict[str, float]:
        status, body = request(self.url + "/metrics")
        assert status == 200, body
        return samples(body.decode())

    def served_by(self, path: str) -> set[str]:
        return {line.split()[0] for line in self.access_log.read_text().splitlines() if line.endswith(path)}

    def stop(self) -> tuple[int, int]:
        codes = self.web.stop(), self.worker.stop()
        self.redis.stop()
        return codes


@pytest.fixture
def deploy(tmp_path):
    started: list[Deployment] = []

    def start(env=None, web_env=None, worker_env=None, gunicorn_args=("-w", "4")) -> Deployment:
        deployment = Deployment(tmp_path, env or {}, web_env or {}, worker_env or {}, list(gunicorn_args))
        started.append(deployment)
        deployment.wait_ready()
        return deployment

    yield start
    for deployment in started:
        codes = deployment.stop()
        assert codes == (0, 0), f"{deployment.web.log()}\n{deployment.worker.log()}"


@pytest.mark.server
def test_four_workers_add_up_ingested_readings_and_do_not_multiply_gauges(deploy, tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    deployment = deploy({"LINEWATCH_SOURCE": "http", "TMPDIR": str(temp)})
    assert len(list(temp.glob("linewatch-metrics-*"))) == 1  # the master's own directory
    # the first worker up would take every connection while the others still import the app
    wait_until(lambda: request(deployment.url + "/healthz")[0] == 200 and len(deployment.served_by("/healthz")) >= 3,
               30, "three workers to answer")

    posted = rejected = 0
    unexpected: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def post(seed: int) -> None:
        nonlocal posted, rejected
        rng = random.Random(seed)
        for _ in range(40):
            n = rng.randint(1, 5)
            invalid = rng.random() < 0.1
            status, body = request(deployment.url + "/api/v1/points",
                                   [{"value": "high" if invalid else rng.random()} for _ in range(n)])
            with lock:
                if status == (400 if invalid else 201):
                    rejected, posted = (rejected + n, posted) if invalid else (rejected, posted + n)
                else:
                    unexpected.append((status, body))

    posters = [threading.Thread(target=post, args=(seed,)) for seed in range(4)]
    for poster in posters:
        poster.start()
    scrapes = []
    for _ in range(10):  # while the readings come in, then after
        scrapes.append(deployment.scrape())
        time.sleep(0.8 if any(poster.is_alive() for poster in posters) else 0)
    for poster in posters:
        poster.join()
    assert unexpected == []
    ingested = [s[INGESTED] for s in scrapes]
    assert ingested == sorted(ingested), ingested  # monotonic, whichever worker answered
    assert len(deployment.served_by("/api/v1/points")) >= 2  # the readings were spread over the workers

    # the ingest worker stores (and counts) every reading; its figures reach /metrics with its
    # heartbeat (every 0.5 s), so the last ones may still be on their way
    final = wait_until(lambda: (scrape := deployment.scrape())[INGESTED] == posted and scrape, 5,
                       f"the {posted} readings posted to show in /metrics")
    assert final[INGESTED] >= ingested[-1] and final[REJECTED] == rejected
    # gauges come from the scraped process, once: the shared store's figures, not four times them
    assert final['linewatch_store_next_seq{line="line-1"}'] == posted
    assert final['linewatch_store_points{line="line-1"}'] == posted
    assert final["linewatch_store_up"] == 1 and final["linewatch_ready"] == 1
    assert sum(v for k, v in final.items() if k.startswith("linewatch_source_state")) == 1
    # one browser ticking on several workers is one viewer; its ticks add up
    for n in range(12):
        status, _ = request(deployment.url + "/_dash-update-component", tick_request(n + 1, None),
                            {"User-Agent": "wall-screen"})
        assert status == 200
    assert len(deployment.served_by("/_dash-update-component")) >= 2
    for _ in range(4):
        final = deployment.scrape()
        assert final["linewatch_viewers"] == 1
        assert final[LINE_TICKS] == final['linewatch_tick_duration_seconds_count{page="line"}'] == 12

    assert deployment.stop() == (0, 0)
    assert list(temp.glob("linewatch-metrics-*")) == []  # the master removed its directory


def replay_file(path: Path, rows: int) -> Path:
    path.write_text("ts,value,defect_prob\n" + "".join(f"{1.7e9 + 0.01 * i:.2f},0.4,0.05\n" for i in range(rows)))
    return path


@pytest.mark.server
@pytest.mark.parametrize("shares_dir", [True, False], ids=["same-host-directory", "through-redis"])
def test_the_ingest_workers_readings_reach_metrics(deploy, tmp_path, shares_dir):
    """The worker's counters are in the directory it shares with gunicorn, or published in Redis."""
    metrics_dir = tmp_path / "prometheus"
    env = {"LINEWATCH_SOURCE": "replay", "LINEWATCH_REPLAY_FILE": str(replay_file(tmp_path / "line.csv", 50)),
           "LINEWATCH_REPLAY_SPEED": "1000"}
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    deployment = deploy(env, web_env=shared, worker_env=shared if shares_dir else {},
                        gunicorn_args=("-w", "2", "--preload"))
    assert request(deployment.url + "/api/v1/points", [{"value": 0.5}] * 3)[0] == 201  # a web worker's
    figures = wait_until(lambda: (now := deployment.scrape())[INGESTED] >= 53 and now, 10, "the worker's readings")
    assert figures[INGESTED] == 53
    assert figures['linewatch_store_next_seq{line="line-1"}'] == 53
    worker_files = list(metrics_dir.glob(f"counter_{deployment.worker.proc.pid}.db"))
    assert len(worker_files) == (1 if shares_dir else 0)
    assert deployment.stop() == (0, 0)
    assert metrics_dir.is_dir()  # the user's directory is kept
