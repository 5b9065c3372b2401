"""Back-pressure: ingest that cannot be recorded in time is refused, never queued without bound
nor allowed to overwrite readings the recorder has not written.

Both stores apply one policy.  An append never overruns unrecorded readings: the recorder
writes them first (``Recorder.make_room``: the memory store's ingest and the ingest worker of
``LINEWATCH_STORE=redis`` alike), so a fast source waits.  What cannot wait is refused with
:class:`Overloaded` (503, ``Retry-After`` and the reason; nothing stored): with the Redis store,
a web process hands a request to the ingest worker only while :func:`refusal` finds the worker
alive, taking requests and not behind, and only into a bounded inbox (:func:`inbox_full`).
"""

from __future__ import annotations

INBOX_LIMIT = 64  # HTTP ingest requests that may wait for the ingest worker, from every web process
STALL_S = 5.0  # an ingest worker whose inbox reader has not come round for this long is stalled


class Overloaded(RuntimeError):
    """Ingest refused for now, nothing stored: the reason, and when to try again."""

    def __init__(self, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def refusal(worker: dict[str, str], waiting: int = 0) -> Overloaded | None:
    """Why HTTP ingest must not go to the ingest worker whose heartbeat is ``worker`` ({} when
    none is fresh) while ``waiting`` requests wait for it, or None."""
    if not worker:
        return Overloaded("no ingest worker takes the readings: start `python -m app.ingest` (the Procfile's "
                          "worker); nothing was stored", retry_after_s=5)
    stalled = float(worker.get("inbox_stalled_s", 0))
    if stalled >= STALL_S:
        return Overloaded(f"the ingest worker has taken no request for {stalled:.0f} s; nothing was stored",
                          retry_after_s=5)
    if worker.get("behind"):
        return Overloaded(f"the ingest worker's recorder fell behind on {worker['behind']}; nothing was stored")
    return inbox_full(waiting) if waiting >= INBOX_LIMIT else None


def inbox_full(waiting: int) -> Overloaded:
    """The refusal when ``waiting`` requests (at least ``INBOX_LIMIT``) already wait for the ingest worker."""
    return Overloaded(f"the ingest worker is behind: {waiting} requests wait for it (at most {INBOX_LIMIT}); "
                      "nothing was stored")
