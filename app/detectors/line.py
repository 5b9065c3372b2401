"""One line's detector: the streaming score plus the chosen SPC rules, turned into alarm events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from app.detectors.alarms import Alarm, Event
from app.detectors.scorer import ScorerConfig, StreamScorer
from app.detectors.spc import SpcChart, SpcConfig

SCORE_RULE = "score"
CRITICAL_SCORE = 2 / 3  # a score event at or above this is critical (twice the anomaly threshold)
CRITICAL_RULES = frozenset({"we-1", "nelson-1"})  # a reading beyond 3 sigma


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that judges a line. The default: the self-calibrating score only.

    ``score_threshold``: score that raises a "score" event (None: no score events).
    ``clear_after``: quiet readings before an alarm of the same rule can raise again.
    """

    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    spc: SpcConfig = field(default_factory=SpcConfig)
    score_threshold: float | None = 0.5
    clear_after: int = 150


class DetectorOutput(NamedTuple):
    """Per reading of a batch: score 0..1 and SPC control lines (NaN before the SPC baseline);
    plus the events raised in the batch."""

    score: np.ndarray
    events: list[Event]
    center: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray


class LineDetector:
    """Causal, deterministic detector for one line: feeding a series in one batch or in many gives
    the same output. State is O(1) in the stream length."""

    def __init__(self, config: DetectorConfig = DetectorConfig()):
        self.config = config
        self._scorer = StreamScorer(config.scorer)
        self._chart = SpcChart(config.spc)
        rules = ((SCORE_RULE,) if config.score_threshold is not None else ()) + self._chart.rules
        self._alarms = {rule: Alarm(config.clear_after) for rule in rules}
        self._seen = 0

    def process(self, ts: np.ndarray, value: np.ndarray) -> DetectorOutput:
        """Judge a batch of readings (arrival order). Returns scores, raised events, control lines.

        A reading whose value or time is not finite is not judged (score 0, NaN lines) and
        leaves the state untouched."""
        ts, value = np.asarray(ts, dtype=float), np.asarray(value, dtype=float)
        if ts.shape != value.shape or ts.ndim != 1:
            raise ValueError("ts and value must be 1-D arrays of the same length")
        valid = np.isfinite(ts) & np.isfinite(value)
        score, center, lcl, ucl = np.zeros(len(value)), *np.full((3, len(value)), np.nan)
        score[valid] = self._scorer.score(ts[valid], value[valid])
        chart_flags, center[valid], lcl[valid], ucl[valid] = self._chart.update(value[valid])
        flags = {}
        if self.config.score_threshold is not None:
            flags[SCORE_RULE] = score >= self.config.score_threshold
        for rule, fired in chart_flags.items():
            flags[rule] = np.zeros(len(value), dtype=bool)
            flags[rule][valid] = fired
        events = []
        for rule, fire in flags.items():
            for index in self._alarms[rule].update(self._seen, fire).tolist():
                k = index - self._seen
                events.append(self._event(index, ts[k], value[k], score[k], rule))
        events.sort(key=lambda e: e.index)
        self._seen += len(value)
        return DetectorOutput(score, events, center, lcl, ucl)

    def _event(self, index: int, ts: float, value: float, score: float, rule: str) -> Event:
        if rule == SCORE_RULE:
            severity = "critical" if score >= CRITICAL_SCORE else "warning"
            message = f"value {value:.6g} is anomalous (score {score:.2f})"
        else:
            severity = "critical" if rule in CRITICAL_RULES else "warning"
            message = f"value {value:.6g} breaks {rule} (centre {self._chart.centre:.6g}, sigma {self._chart.sigma:.3g})"
        return Event(int(index), float(ts), rule, severity, message)
