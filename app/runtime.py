"""The running parts of one serving process: store, source and recorder, started lazily.

Nothing starts at import or in ``create_app``: ``ensure_started`` runs on the first
request of the process that serves (so threads survive ``gunicorn --preload`` forks).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from app.config import Config
from app.ingest import Ingestor
from app.points import DEFAULT_LINE, Thresholds
from app.recorder import Recorder, Retention
from app.sources import SourceHealth, make_source
from app.store import LineStores

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stores = LineStores(config.capacity)
        self.store = self.stores.get(DEFAULT_LINE)  # the line the dashboard shows
        self.recorder = Recorder(config.data_dir, self.stores, Thresholds(config.prob_threshold, config.value_threshold),
                                 retention=Retention(config.retention_days, config.retention_points))
        self.ingestor = Ingestor(self.stores, self.recorder)
        self.source = make_source(config, self.store, self.ingestor)
        self._started_pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Restore history, then start recorder and source; once per process."""
        if self._started_pid == os.getpid():
            return
        with self._lock:
            if self._started_pid == os.getpid():
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
        self.source.stop()
        self.recorder.stop()
        self._started_pid = None

    def source_status(self) -> SourceHealth:
        """The source's health with the count of points the ingest refused."""
        return self.source.health()._replace(rejected=self.ingestor.rejected)

    def readiness(self) -> dict:
        health = self.source.health()
        stats = self.store.stats()
        return {
            "ready": self._started_pid == os.getpid() and health.state in ("starting", "running", "finished"),
            "source": {"kind": self.config.source, "state": health.state, "message": health.message,
                       "accepted": self.ingestor.accepted, "rejected": self.ingestor.rejected},
            "store": {"kind": self.config.store, "points": stats.count, "next_seq": stats.next_seq,
                      "rate": round(stats.rate, 2)},
        }
