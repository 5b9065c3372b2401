"""One way into the stores for every source: ``Ingestor.ingest`` scores the readings that
carry no probability, appends them to their line's store and, for senders that wait for an
acknowledgement, records them before returning.  Validation lives in :mod:`app.readings`;
the counters /metrics shows in :mod:`app.ingest.counts`.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from app.ingest.counts import ReadingCounters
from app.readings import Readings
from app.scoring import Scorer, ZScoreScorer


class Ingestor:
    """Scores, stores and (when asked) records validated points; counts accepted and rejected."""

    def __init__(self, stores, recorder, scorer_factory: Callable[[], Scorer] = ZScoreScorer) -> None:
        self.stores = stores
        self.recorder = recorder
        self._scorer_factory = scorer_factory
        self._scorers: dict[str, Scorer] = {}
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
        with self._lock:  # one scorer state and one append order per line
            for line in dict.fromkeys(readings.line):
                mask = lines == line
                value, prob = readings.value[mask], readings.prob[mask].copy()
                missing = np.isnan(prob)
                if missing.any():
                    scorer = self._scorers.setdefault(line, self._scorer_factory())
                    prob[missing] = scorer.score(value[missing])
                seqs[line] = self.stores.get(line).append(readings.ts[mask], value, prob).tolist()
                self.accepted += len(value)  # counted as each line's points are stored
                self.counters.ingested.inc(len(value))
        if durable:
            self.recorder.ensure_recorded(seqs)
        return seqs

    def count_rejected(self, n: int = 1) -> None:
        with self._lock:
            self.rejected += n
        self.counters.rejected.inc(n)
