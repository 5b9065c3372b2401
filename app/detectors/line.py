"""One line's detector: the streaming score plus the chosen SPC rules, turned into alarm events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from app.detectors.alarms import Alarm, Event
from app.detectors.messages import render
from app.detectors.scorer import ScorerConfig, StreamScorer
from app.detectors.spc import SpcChart, SpcConfig

SCORE_RULE = "score"
THRESHOLD_RULE = "threshold"  # readings that carry a defect probability: the operator's thresholds
CRITICAL_SCORE = 2 / 3  # a score event at or above this is critical (twice the anomaly threshold)
CRITICAL_RULES = frozenset({"we-1", "nelson-1"})  # a reading beyond 3 sigma


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that judges a line. The default: the self-calibrating score only.

    ``score_threshold``: score that raises a "score" event (None: no score events).
    ``prob_threshold``, ``value_threshold``: a reading that carries its own defect probability (an
    upstream model's) raises a "threshold" event when both are exceeded (value in the line's unit).
    ``clear_after``: quiet readings before an alarm of the same rule can raise again.
    """

    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    spc: SpcConfig = field(default_factory=SpcConfig)
    score_threshold: float | None = 0.5
    prob_threshold: float = 0.5
    value_threshold: float = -np.inf
    clear_after: int = 150


class DetectorOutput(NamedTuple):
    """Per reading of a batch: score 0..1, probability (the reading's own, else the score) and SPC
    control lines (NaN before the SPC baseline); plus the events raised in the batch."""

    score: np.ndarray
    prob: np.ndarray
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
        rules = ((SCORE_RULE,) if config.score_threshold is not None else ()) + (THRESHOLD_RULE,) + self._chart.rules
        self._alarms = {rule: Alarm(config.clear_after) for rule in rules}
        self._seen = 0

    def control_lines(self) -> tuple[float, float, float] | None:
        """Centre line and 3-sigma control limits once the SPC baseline is in, for lines with SPC rules."""
        chart = self._chart
        if not chart.rules or not chart.ready:
            return None
        return chart.centre, chart.centre - 3 * chart.sigma, chart.centre + 3 * chart.sigma

    @property
    def seen(self) -> int:
        """Readings processed so far: the ``index`` of the next reading."""
        return self._seen

    def process(self, ts: np.ndarray, value: np.ndarray, prob: np.ndarray | None = None) -> DetectorOutput:
        """Judge a batch of readings (arrival order); ``prob`` is NaN where a reading carries no
        defect probability. Returns scores, probabilities, raised events, control lines.

        A reading with a probability is judged by the thresholds ("threshold"), one without by
        its score ("score"); the SPC rules judge every value. A reading whose value or time is
        not finite is not judged (score 0, NaN lines) and leaves the state untouched."""
        ts, value = np.asarray(ts, dtype=float), np.asarray(value, dtype=float)
        prob = np.full(len(value), np.nan) if prob is None else np.asarray(prob, dtype=float)
        if ts.shape != value.shape or prob.shape != value.shape or ts.ndim != 1:
            raise ValueError("ts, value and prob must be 1-D arrays of the same length")
        valid = np.isfinite(ts) & np.isfinite(value)
        score, center, lcl, ucl = np.zeros(len(value)), *np.full((3, len(value)), np.nan)
        score[valid] = self._scorer.score(ts[valid], value[valid])
        chart_flags, center[valid], lcl[valid], ucl[valid] = self._chart.update(value[valid])
        missing = np.isnan(prob)
        prob = np.where(missing, score, prob)
        cfg = self.config
        flags = {}
        if cfg.score_threshold is not None:
            flags[SCORE_RULE] = missing & (score >= cfg.score_threshold)
        flags[THRESHOLD_RULE] = ~missing & (prob > cfg.prob_threshold) & (value > cfg.value_threshold)
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
        return DetectorOutput(score, prob, events, center, lcl, ucl)

    def _event(self, index: int, ts: float, value: float, score: float, rule: str) -> Event:
        if rule == SCORE_RULE:
            severity = "critical" if score >= CRITICAL_SCORE else "warning"
            message = render("alarm_score", value=f"{value:.6g}", score=f"{score:.2f}")
        elif rule == THRESHOLD_RULE:
            severity = "warning"
            cfg = self.config
            message = (render("alarm_threshold_value", prob_threshold=f"{cfg.prob_threshold:g}", value=f"{value:.6g}",
                              value_threshold=f"{cfg.value_threshold:g}") if np.isfinite(cfg.value_threshold)
                       else render("alarm_threshold", prob_threshold=f"{cfg.prob_threshold:g}"))
        else:
            severity = "critical" if rule in CRITICAL_RULES else "warning"
            message = render("alarm_spc", value=f"{value:.6g}", rule=rule, centre=f"{self._chart.centre:.6g}",
                             sigma=f"{self._chart.sigma:.3g}")
        return Event(int(index), float(ts), rule, severity, message)
