"""The alarm book's clock: ``book.sweep()`` about every second, in a thread of its own, and
retention: once a minute the alarms back to normal and first raised longer ago than the
history's retention are forgotten, in the book's ledger and in its copies (the ingest worker's
SQLite copy of the Redis book).

Exactly one runs per deployment (the process of LocalRuntime; the ingest worker with
``STORE=redis``), started with the process's other threads, never at import.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from app.alarm_book import AlarmBook, LedgerUnavailable

log = logging.getLogger(__name__)

SWEEP_S = 1.0
RETENTION_EVERY_S = 60.0


class AlarmClock:
    """Expires shelves, re-alarms and books waiting raises (``AlarmBook.sweep``) every ``interval`` s."""

    def __init__(self, book: AlarmBook, interval: float = SWEEP_S, retention_s: float | None = None,
                 copies: Sequence = ()) -> None:
        self.book = book
        self.interval = interval
        self.retention_s = retention_s
        self.copies = copies  # ledgers that hold a copy of the book's (each with ``forget``)
        self._forgotten_at = -float("inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="linewatch-alarm-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.book.sweep()
                if self.retention_s is not None and time.monotonic() - self._forgotten_at >= RETENTION_EVERY_S:
                    self.forget()
            except LedgerUnavailable:
                pass  # the ledger logged it when it began; the next round tries again
            except Exception:  # the clock must outlive any failure
                log.exception("alarm sweep failed; will retry")

    def forget(self) -> int:
        """Retention now: the alarms forgotten from the book (its copies forget the same)."""
        self._forgotten_at = time.monotonic()
        before = self.book.clock() - self.retention_s
        for copy in self.copies:
            copy.forget(before)
        return self.book.ledger.forget(before)
