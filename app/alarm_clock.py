"""The alarm book's clock: ``book.sweep()`` about every second, in a thread of its own.

Exactly one runs per deployment (the process of LocalRuntime; the ingest worker with
``STORE=redis``), started with the process's other threads, never at import.
"""

from __future__ import annotations

import logging
import threading

from app.alarm_book import AlarmBook, LedgerUnavailable

log = logging.getLogger(__name__)

SWEEP_S = 1.0


class AlarmClock:
    """Expires shelves, re-alarms and books waiting raises (``AlarmBook.sweep``) every ``interval`` s."""

    def __init__(self, book: AlarmBook, interval: float = SWEEP_S) -> None:
        self.book = book
        self.interval = interval
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
            except LedgerUnavailable:
                pass  # the ledger logged it when it began; the next round tries again
            except Exception:  # the clock must outlive any failure
                log.exception("alarm sweep failed; will retry")
