"""One way into the stores for every source: ``Ingestor.ingest`` judges the readings with their
line's detector (readings that carry no probability get its score), appends them with the
alarms they raise to the line's store (never overwriting points the recorder has not written
yet: it records them first, so a fast source slows down instead of losing readings) and, for senders that wait for an acknowledgement,
records them before returning.  Validation lives in :mod:`app.readings`; the counters
/metrics shows in :mod:`app.ingest.counts`.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from app.alarms import AlarmDraft
from app.detectors import LineDetector
from app.ingest.counts import ReadingCounters
from app.points import PointBatch
from app.readings import Readings


class Ingestor:
    """Judges, stores and (when asked) records validated readings; counts accepted and rejected.

    ``detector_for(line)`` makes a line's detector when its first reading arrives.
    """

    def __init__(self, stores, recorder, detector_for: Callable[[str], LineDetector] = lambda line: LineDetector()
                 ) -> None:
        self.stores = stores
        self.recorder = recorder
        self._detector_for = detector_for
        self._detectors: dict[str, LineDetector] = {}
        self._lock = threading.Lock()
        self.accepted = 0
        self.rejected = 0
        self.counters = ReadingCounters()

    def ingest(self, readings: Readings, durable: bool = True) -> dict[str, list[int]]:
        """Append ``readings`` to their lines' stores; with ``durable`` they are on disk on return.

        Returns the sequence ids given to each line's points.
        """
        lines = np.array(readings.line, dtype=object)
        seqs: dict[str, list[int]] = {}
        with self._lock:  # one detector state and one append order per line
            for line in dict.fromkeys(readings.line):
                mask = lines == line
                store = self.stores.get(line)
                ts, value, prob = readings.ts[mask], readings.value[mask], readings.prob[mask]
                ids = seqs[line] = []
                for start in range(0, len(ts), store.capacity):  # never more than the store holds at once
                    part = slice(start, start + store.capacity)
                    ids += self._store(line, store, ts[part], value[part], prob[part])
        if durable:
            self.recorder.ensure_recorded(seqs)
        return seqs

    def _store(self, line: str, store, ts: np.ndarray, value: np.ndarray, prob: np.ndarray) -> list[int]:
        """Judge one line's readings and append them with their alarms, once the recorder has room."""
        detector = self.detector(line)
        first = detector.seen
        judged = detector.process(ts, value, prob)
        alarms = [AlarmDraft(event.index - first, line, event.ts, event.rule, event.severity,
                             float(value[event.index - first]), event.message) for event in judged.events]
        self.recorder.make_room(line, store, len(value))
        ids = store.append(ts, value, judged.prob, alarms).tolist()
        self.accepted += len(value)  # counted as each line's points are stored
        self.counters.ingested.inc(len(value))
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
