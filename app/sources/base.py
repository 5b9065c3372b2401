"""A source that runs its loop in a background thread and reports its health."""

from __future__ import annotations

import logging
import threading
from typing import NamedTuple

log = logging.getLogger(__name__)


READY_STATES = ("starting", "running", "finished")  # a source in one of these counts as ready (/readyz)


class SourceHealth(NamedTuple):
    """``state``: starting, running, reconnecting, error, finished or stopped; ``message`` says
    why; ``rejected`` counts points refused as invalid so far; ``history`` says why the history
    cannot be written ("" while it can: the runtime fills it in, for the page)."""

    state: str
    message: str = ""
    rejected: int = 0
    history: str = ""


class ThreadedSource:
    """Calls ``step()`` every ``interval`` seconds in a daemon thread until stopped.

    An exception in ``step`` is logged, shown as the ``error`` health state, and the loop
    carries on: a source never takes the app down.
    """

    name = "source"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._health = SourceHealth("stopped")

    def step(self) -> None:
        raise NotImplementedError

    def health(self) -> SourceHealth:
        return self._health

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._health = SourceHealth("starting")
        self._thread = threading.Thread(target=self._run, name=f"linewatch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self._health = SourceHealth("stopped")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                self._health = SourceHealth("running")
            except Exception as exc:  # keep the stream alive; surface the error
                message = f"{type(exc).__name__}: {exc}"
                if message != self._health.message:  # log each new error once, not every step
                    log.exception("%s failed", self.name)
                self._health = SourceHealth("error", message)
            self._stop.wait(self.interval)
