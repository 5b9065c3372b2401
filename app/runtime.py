"""The running parts of one serving process: store, source and recorder, started lazily.

``make_runtime(config)`` picks one of two: ``LocalRuntime`` (``LINEWATCH_STORE=memory``: the
source and the recorder run in this process) or ``SharedRuntime`` (``STORE=redis``, in
app/shared_runtime.py: this process reads Redis; the ingest worker records).  Nothing
starts at import or in ``create_app``: ``ensure_started`` runs on the first request of the
process that serves (so threads survive ``gunicorn --preload`` forks).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Protocol

from app.alarm_book import AlarmBook
from app.alarm_clock import AlarmClock
from app.alarm_ledger import history_ledger
from app.config import Config
from app.ingest import Ingestor
from app.notify import webhooks_from
from app.points import DEFAULT_LINE, Thresholds
from app.recorder import DataDirUnusable, HistoryUnreachable, Recorder, Retention
from app.sources import SourceHealth, make_source
from app.sources.base import READY_STATES
from app.store import LineStores, Store

if TYPE_CHECKING:
    from app.shared_runtime import SharedHistory, WorkerIngestor
    from app.store.redis.stream import RedisLineStores

log = logging.getLogger(__name__)

GUNICORN_WORKER_BOOT_ERROR = 3  # gunicorn's exit code for "Worker failed to boot": the master stops


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
        stop_gunicorn_boot(exc.code)


def stop_gunicorn_boot(message: str) -> None:
    """Under gunicorn, print ``message`` and exit with the worker-boot error (the master stops); else return."""
    if gunicorn_workers() is None:
        return
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(GUNICORN_WORKER_BOOT_ERROR) from None


class Runtime(Protocol):
    """What the web layer, the API and the metrics use of a serving process's running parts."""

    config: Config
    stores: LineStores | RedisLineStores  # every line's store
    store: Store  # the line the dashboard shows
    recorder: Recorder | SharedHistory  # history, alerts, and what durable ingest waits for
    history: Recorder | SharedHistory  # what every host reads back: ``points_range(line, start, end, max_points)``
    ingestor: Ingestor | WorkerIngestor  # where readings from outside go in
    source: object  # start(), stop(), health() -> SourceHealth (WorkerSource with STORE=redis)
    alarm_book: AlarmBook  # every line's alarms and their journal (app/alarm_book.py)

    def ensure_started(self) -> None:
        """Start what runs in this process; once per process, on its first request."""

    def stop(self) -> None:
        """Stop what ``ensure_started`` started."""

    def source_status(self) -> SourceHealth:
        """The source's health, with the count of points the ingest refused."""

    def readiness(self) -> dict:
        """The /readyz answer: ``ready`` and the source's and the store's detail."""


def make_runtime(config: Config) -> Runtime:
    """The runtime ``config.store`` asks for (under gunicorn, the memory store only with one worker).

    With ``STORE=memory`` the history must be writable at start: if not, DataDirUnusable or
    HistoryUnreachable (ConfigErrors: ``python -m app`` exits 2 with one line; under gunicorn the
    worker-boot error).
    """
    check_gunicorn_workers(config)
    if config.store == "redis":
        from app.shared_runtime import SharedRuntime

        return SharedRuntime(config)
    runtime = LocalRuntime(config)
    try:
        runtime.recorder.check()
    except (DataDirUnusable, HistoryUnreachable) as exc:
        stop_gunicorn_boot(f"linewatch: {exc}")
        raise
    return runtime


class LocalRuntime:
    """``STORE=memory``: store, source and recorder all in this one process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stores = LineStores(config.capacity)
        self.store = self.stores.get(DEFAULT_LINE)  # the line the dashboard shows
        self.recorder = Recorder(config.data_dir, self.stores, Thresholds(config.prob_threshold, config.value_threshold),
                                 retention=Retention(config.retention_days, config.retention_points),
                                 history_url=config.history_url)
        self.history = self.recorder
        self.alarm_ledger = history_ledger(self.recorder.backend)  # in the history, beside the points
        self.alarm_book = AlarmBook(self.alarm_ledger, design=config.alarm_design,
                                    shelve_max_minutes=config.shelve_max_minutes)
        self.alarm_clock = AlarmClock(self.alarm_book, retention_s=config.retention_days * 86_400)
        self.webhooks = webhooks_from(config)
        if self.webhooks is not None:
            self.alarm_book.listen(self.webhooks)
        self.ingestor = Ingestor(self.stores, self.recorder, config.detector_for, self.alarm_book)
        self.source = make_source(config, self.ingestor)
        self._started_pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Restore history, then start recorder, alarm clock and source; once per process."""
        if self._started_pid == os.getpid():
            return
        with self._lock:
            if self._started_pid == os.getpid():
                return
            restored = self.recorder.restore(self.config.capacity)
            log.info("restored %d points from %s", restored, self.recorder.backend.where)
            for line, store in self.stores.items():  # detectors resume calibrated on the restored window
                self.ingestor.warm_up(line, store.tail(self.config.capacity))
            self.recorder.start()
            if self.webhooks is not None:
                self.webhooks.start()
            self.alarm_clock.start()
            self.source.start()
            atexit.register(self.stop)
            self._started_pid = os.getpid()

    def stop(self) -> None:
        """Stop the source, then record what is left."""
        if self._started_pid != os.getpid():
            return
        self.source.stop()
        self.alarm_clock.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        self.recorder.stop()
        self.alarm_ledger.close()
        self._started_pid = None

    def source_status(self) -> SourceHealth:
        return self.source.health()._replace(rejected=self.ingestor.rejected, history=self.recorder.problem)

    def readiness(self) -> dict:
        health = self.source.health()
        stats = self.store.stats()
        return {
            "ready": self._started_pid == os.getpid() and health.state in READY_STATES and not self.recorder.problem,
            "source": {"kind": self.config.source, "state": health.state, "message": health.message,
                       "accepted": self.ingestor.accepted, "rejected": self.ingestor.rejected},
            "store": {"kind": self.config.store, "points": stats.count, "next_seq": stats.next_seq,
                      "rate": round(stats.rate, 2)},
            "history": self.recorder.health(),
            "alarms": self._alarms_health(),
        }

    def _alarms_health(self) -> dict:
        """The alarm book's storage: whether it is writable (and why not), and the raises waiting for it."""
        problem = self.alarm_ledger.problem
        state = {"state": "unwritable", "message": problem} if problem else {"state": "ok"}
        return {**state, "waiting": self.alarm_book.waiting}
