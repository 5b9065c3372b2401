"""One way into the stores for every source: ``Ingestor.ingest`` judges the readings with their
line's detector (readings that carry no probability get its score), appends them with the
alarms they raise to the line's store, then tells the alarm book what they raised and returned (never overwriting points the recorder has not written
yet: it records them first, so a fast source slows down instead of losing readings); for senders
that wait for an acknowledgement, the readings are on disk before they are stored.  Validation
lives in :mod:`app.readings`; the counters /metrics shows in :mod:`app.ingest.counts`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Callable, NamedTuple, Sequence

import numpy as np

from app.alarm_book import AlarmBook
from app.alarms import AlarmDraft
from app.detectors import LineDetector
from app.ingest.counts import ReadingCounters
from app.points import PointBatch
from app.readings import Readings

log = logging.getLogger(__name__)


class Returned(NamedTuple):
    """A raised alarm of the line whose condition cleared at the reading ``offset`` of its batch."""

    offset: int
    rule: str
    ts: float


class Judged(NamedTuple):
    """One line's share of a request, judged by its detector and not yet stored."""

    line: str
    store: object  # the line's store
    ts: np.ndarray
    value: np.ndarray
    prob: np.ndarray
    alarms: list[AlarmDraft]
    returns: list[Returned]


class Ingestor:
    """Judges, stores and (when asked) records validated readings; counts accepted and rejected.

    ``detector_for(line)`` makes a line's detector when its first reading arrives; ``book``
    (app/alarm_book.py) gets the alarms the stored readings raised and returned, in reading order.
    """

    def __init__(self, stores, recorder, detector_for: Callable[[str], LineDetector] = lambda line: LineDetector(),
                 book: AlarmBook | None = None) -> None:
        self.stores = stores
        self.recorder = recorder
        self.book = book
        self._detector_for = detector_for
        self._detectors: dict[str, LineDetector] = {}
        self._lock = threading.Lock()
        self.accepted = 0
        self.rejected = 0
        self.counters = ReadingCounters()

    def ingest(self, readings: Readings, durable: bool = True, keys: Sequence[str] = ()) -> dict[str, list[int]]:
        """Append ``readings`` to their lines' stores, all or none; with ``durable`` they are on disk on return.

        ``keys`` (durable only): idempotency keys recorded with the readings (HTTP: the request's
        Idempotency-Key; MQTT: one per message).  When every key was recorded in the last 24 h,
        nothing is stored and the ids recorded with the first are returned.

        Readings are written before they are appended when durable, or when a line gets more
        than its store holds; otherwise the recorder first writes what the append would
        overwrite.  When the history cannot be written, HistoryUnavailable (app/recorder.py) is
        raised and nothing is stored.  Returns the sequence ids given to each line's points.
        """
        lines = np.array(readings.line, dtype=object)
        with self._lock:  # one detector state and one append order per line (and one answer per key)
            if keys and (answered := self.recorder.answered(keys)) is not None:
                return answered
            judged = [self._judge(line, readings, lines == line) for line in dict.fromkeys(readings.line)]
            if durable or any(len(part.ts) > part.store.capacity for part in judged):
                self.recorder.write_ahead(judged, keys)
            else:
                for part in judged:
                    self.recorder.make_room(part.line, part.store, len(part.ts))
            seqs = {part.line: self._append(part, keys) for part in judged}
            if self.book is not None:
                for part in judged:
                    if seqs[part.line]:
                        self._tell_book(part, seqs[part.line][0])
                    elif part.alarms or part.returns:  # held without ids (Redis away): nothing to name them by
                        log.warning("%s: %d raise(s) and %d return(s) of readings held while the store is away "
                                    "are not booked in the alarm book (they stay in the event log)", part.line,
                                    len(part.alarms), len(part.returns))
        if durable:
            self.recorder.ensure_recorded(seqs, keys)
        return seqs

    def recorded(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` recorded with their readings in the last 24 h (MQTT redeliveries)."""
        return self.recorder.recorded(keys)

    def _judge(self, line: str, readings: Readings, mask: np.ndarray) -> Judged:
        """One line's readings with the probabilities and alarm drafts its detector gives them."""
        ts, value = readings.ts[mask], readings.value[mask]
        detector = self.detector(line)
        first = detector.seen
        judged = detector.process(ts, value, readings.prob[mask])
        alarms = [AlarmDraft(event.index - first, line, event.ts, event.rule, event.severity,
                             float(value[event.index - first]), event.message) for event in judged.events]
        returns = [Returned(r.index - first, r.rule, r.ts) for r in judged.returns]
        return Judged(line, self.stores.get(line), ts, value, judged.prob, alarms, returns)

    def _tell_book(self, part: Judged, first_seq: int) -> None:
        """The book hears one line's stored raises and returns in reading order (a rule may do both in a batch)."""
        for change in sorted([*part.alarms, *part.returns], key=lambda change: change.offset):
            if isinstance(change, Returned):
                self.book.returned(part.line, change.rule, change.ts)
            else:
                self.book.raised([change.raised(first_seq)])

    def _append(self, part: Judged, keys: Sequence[str] = ()) -> list[int]:
        """Append one line's judged readings with their alarms; their ids.

        With idempotency ``keys`` the append is named after them, so a store that outlives this
        process (Redis) gives a retry the ids of an append whose keys never reached the disk
        (the ingest worker killed in between) instead of storing the readings twice."""
        token = None
        if keys:
            token = "idem-" + hashlib.sha256("\n".join([part.line, *sorted(keys)]).encode()).hexdigest()
        ids = part.store.append(part.ts, part.value, part.prob, part.alarms, token=token).tolist()
        self.accepted += len(ids)  # counted as each line's points are stored
        self.counters.ingested.inc(len(ids))
        return ids

    def detector(self, line: str) -> LineDetector:
        """The line's detector (made on first use)."""
        detector = self._detectors.get(line)
        if detector is None:
            detector = self._detectors[line] = self._detector_for(line)
        return detector

    def lines(self) -> list[str]:
        """The lines readings arrived for (each has its detector)."""
        return list(self._detectors)

    def control_lines(self, line: str) -> tuple[float, float, float] | None:
        """The line's SPC centre line and control limits, when it has SPC rules and their baseline."""
        detector = self._detectors.get(line)
        return detector.control_lines() if detector is not None else None

    def warm_up(self, line: str, history: PointBatch) -> None:
        """Let the line's detector learn from readings it already judged (restored history); no alarms."""
        with self._lock:
            self.detector(line).process(history.ts, history.value, history.prob)

    def count_rejected(self, n: int = 1) -> None:
        with self._lock:
            self.rejected += n
        self.counters.rejected.inc(n)
