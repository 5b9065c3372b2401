"""The running parts of one serving process: store, source and recorder, started lazily.

Nothing starts at import or in ``create_app``: ``ensure_started`` runs on the first
request of the process that serves (so threads survive ``gunicorn --preload`` forks).

With ``LINEWATCH_STORE=redis`` a web process only reads: the source and the recorder run
in the ingest worker (``python -m app.ingest``); here the store is Redis, the source's
health is the worker's heartbeat, and the "recorder" serves alerts and history and waits
for the worker to record what HTTP ingest appended (``SharedHistory``).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from app.config import Config
from app.ingest import Ingestor
from app.points import DEFAULT_LINE, Thresholds
from app.recorder import Recorder, Retention
from app.sources import SourceHealth, make_source
from app.store import LineStores, StoreUnavailable

log = logging.getLogger(__name__)

OK_SOURCE_STATES = ("starting", "running", "finished")
GUNICORN_WORKER_BOOT_ERROR = 3  # gunicorn's exit code for "Worker failed to boot": the master stops
RECORD_WAIT_S = 5.0  # a durable HTTP ingest (STORE=redis) waits this long for the worker to record
WORKER_HEALTH_CACHE_S = 0.5


def refuse_memory_store_with_workers(config: Config, workers: int) -> None:
    """Stop start-up (SystemExit, one line) when the in-memory store would be split between workers.

    For gunicorn.conf.py: ``def on_starting(server): refuse_memory_store_with_workers(config, server.cfg.workers)``.
    """
    if config.store == "memory" and workers > 1:
        raise SystemExit(f"linewatch: LINEWATCH_STORE=memory keeps the points inside one process, but gunicorn "
                         f"would run {workers} workers, each with its own stream: set LINEWATCH_STORE=redis "
                         "(with LINEWATCH_REDIS_URL and one `python -m app.ingest` worker) or run --workers 1")


def gunicorn_workers() -> int | None:
    """The worker count of the gunicorn that is loading this app, or None outside gunicorn.

    gunicorn imports the app from its own objects (the worker's ``load_wsgi``, or the
    arbiter's ``setup`` with ``--preload``), so the resolved settings (command line,
    ``GUNICORN_CMD_ARGS``, ``WEB_CONCURRENCY``, config file) are on the call stack.
    """
    if "gunicorn.config" not in sys.modules:
        return None
    from gunicorn.config import Config as GunicornConfig

    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if type(owner).__module__.startswith("gunicorn."):
            cfg = getattr(owner, "cfg", None)
            if isinstance(cfg, GunicornConfig):
                return int(cfg.workers)
        frame = frame.f_back
    return None


def check_gunicorn_workers(config: Config) -> None:
    """Under gunicorn, refuse the memory store with several workers, so that gunicorn stops.

    A worker that exits with SystemExit(message) would be restarted forever; exit code 3
    makes the master stop with "Worker failed to boot" after the message is printed.
    """
    workers = gunicorn_workers()
    if workers is None:
        return
    try:
        refuse_memory_store_with_workers(config, workers)
    except SystemExit as exc:
        print(exc.code, file=sys.stderr, flush=True)
        raise SystemExit(GUNICORN_WORKER_BOOT_ERROR) from None


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        check_gunicorn_workers(config)
        self._started_pid: int | None = None
        self._lock = threading.Lock()
        if config.store == "redis":
            self._init_shared(config)
            return
        self.stores = LineStores(config.capacity)
        self.store = self.stores.get(DEFAULT_LINE)  # the line the dashboard shows
        self.recorder = Recorder(config.data_dir, self.stores, Thresholds(config.prob_threshold, config.value_threshold),
                                 retention=Retention(config.retention_days, config.retention_points))
        self.ingestor = Ingestor(self.stores, self.recorder)
        self.source = make_source(config, self.ingestor)

    def _init_shared(self, config: Config) -> None:
        """A reader of the Redis streams; ingest, source and recorder run in ``python -m app.ingest``."""
        from app.store.redis.link import RedisLink
        from app.store.redis.stream import RedisLineStores

        self.link = RedisLink.from_url(config.redis_url)  # connects on first use, in the serving process
        self.stores = RedisLineStores(self.link, config.capacity)
        self.store = self.stores.get(DEFAULT_LINE)
        self.recorder = SharedHistory(config, self.link, self.stores)
        self.ingestor = SharedIngestor(self.stores, self.recorder)
        self.source = WorkerSource(self.link)

    def ensure_started(self) -> None:
        """Restore history, then start recorder and source; once per process."""
        if self._started_pid == os.getpid():
            return
        with self._lock:
            if self._started_pid == os.getpid():
                return
            if self.config.store == "redis":  # nothing runs here: the ingest worker does
                self._started_pid = os.getpid()
                return
            restored = self.recorder.restore(self.config.capacity)
            log.info("restored %d points from %s", restored, self.recorder.path)
            self.recorder.start()
            self.source.start()
            atexit.register(self.stop)
            self._started_pid = os.getpid()

    def stop(self) -> None:
        """Stop the source, then record what is left."""
        if self._started_pid != os.getpid():
            return
        if self.config.store == "redis":  # the ingest worker records; nothing to stop here
            self._started_pid = None
            return
        self.source.stop()
        self.recorder.stop()
        self._started_pid = None

    def source_status(self) -> SourceHealth:
        """The source's health with the count of points the ingest refused."""
        if self.config.store == "redis":
            return self.source.health()  # the worker's and every web process's refusals
        return self.source.health()._replace(rejected=self.ingestor.rejected)

    def readiness(self) -> dict:
        if self.config.store == "redis":
            return self._shared_readiness()
        health = self.source.health()
        stats = self.store.stats()
        return {
            "ready": self._started_pid == os.getpid() and health.state in ("starting", "running", "finished"),
            "source": {"kind": self.config.source, "state": health.state, "message": health.message,
                       "accepted": self.ingestor.accepted, "rejected": self.ingestor.rejected},
            "store": {"kind": self.config.store, "points": stats.count, "next_seq": stats.next_seq,
                      "rate": round(stats.rate, 2)},
        }

    def _shared_readiness(self) -> dict:
        """Ready when Redis answers (and is filled) and the ingest worker's source is fine."""
        from app.store.redis.control import read_gaps

        source = {"kind": self.config.source, "runs_in": "python -m app.ingest"}
        store = {"kind": "redis", "redis": self.link.where}
        try:
            stats = self.store.stats()
            gaps = read_gaps(self.link)
        except StoreUnavailable as exc:
            store.update(state="unavailable", message=str(exc))
            return {"ready": False, "source": source, "store": store}
        health = self.source.health()
        source.update(state=health.state, message=health.message, rejected=health.rejected)
        store.update(state="ok", points=stats.count, next_seq=stats.next_seq, rate=round(stats.rate, 2))
        if gaps:
            store["gaps"] = gaps
        return {"ready": health.state in OK_SOURCE_STATES, "source": source, "store": store}


class WorkerSource:
    """The source as a web process sees it with STORE=redis: the ingest worker's heartbeat."""

    name = "worker"

    def __init__(self, link) -> None:
        self.link = link
        self._cached: tuple[float, SourceHealth] | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def health(self) -> SourceHealth:
        from app.store.redis.control import read_worker

        now = time.monotonic()
        if self._cached and now - self._cached[0] < WORKER_HEALTH_CACHE_S:
            return self._cached[1]
        try:
            fields, web_rejected = read_worker(self.link)
        except StoreUnavailable as exc:
            return SourceHealth("error", f"store unavailable: {exc}")
        if not fields:
            health = SourceHealth("error", "no ingest worker: start `python -m app.ingest` (the Procfile's worker)",
                                  web_rejected)
        else:
            health = SourceHealth(fields.get("state", "error"), fields.get("message", ""),
                                  int(fields.get("rejected", 0)) + web_rejected)
        self._cached = (now, health)
        return health


class SharedIngestor(Ingestor):
    """HTTP ingest in a web process (STORE=redis): refusals are counted in Redis for every process to show."""

    def count_rejected(self, n: int = 1) -> None:
        from app.store.redis.control import count_rejected

        super().count_rejected(n)
        try:
            count_rejected(self.stores.link, n)
        except StoreUnavailable:
            pass


class SharedHistory:
    """What a web process (STORE=redis) asks of "the recorder"; the ingest worker does the recording.

    - ``ensure_recorded``: durable HTTP ingest waits (``RECORD_WAIT_S``) until the worker's
      recorder, which follows the streams like any reader, has the ids it was given on disk.
    - ``alerts``: from the alerts stream the worker publishes.
    - ``history``: from SQLite when this host sees the worker's data dir, else the points Redis holds.
    """

    def __init__(self, config: Config, link, stores) -> None:
        self.link = link
        self.stores = stores
        self.capacity = config.capacity
        self.path = Path(config.data_dir) / "linewatch.sqlite3"
        self._sqlite = Recorder(config.data_dir, stores, Thresholds(config.prob_threshold, config.value_threshold))

    def ensure_recorded(self, seqs: dict[str, list[int]]) -> None:
        from app.store.redis.control import wait_recorded

        targets = {line: max(ids) for line, ids in seqs.items() if ids}
        if targets and not wait_recorded(self.link, targets, RECORD_WAIT_S):
            raise StoreUnavailable(f"the points are in the live stream but the ingest worker did not record them "
                                   f"within {RECORD_WAIT_S:g} s (is `python -m app.ingest` running?)")

    def alerts(self, since_ts: float | None = None, until_ts: float | None = None, limit: int = 1000) -> list[dict]:
        from app.store.redis.control import read_alerts

        return read_alerts(self.link, since_ts, until_ts, limit)

    def history(self, line: str, since_ts: float | None, until_ts: float | None, limit: int) -> pd.DataFrame:
        if self.path.exists():
            return self._sqlite.history(line, since_ts, until_ts, limit)
        batch = self.stores.find(line).tail(self.capacity)
        keep = (batch.ts >= (since_ts or 0.0)) & (batch.ts <= (until_ts if until_ts is not None else float("inf")))
        return pd.DataFrame({"seq": batch.seq[keep], "ts": batch.ts[keep], "value": batch.value[keep],
                             "prob": batch.prob[keep]}).head(limit)
