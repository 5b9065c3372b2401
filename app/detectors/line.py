"""One line's detector: the streaming score, the thresholds, the spec limits, the stuck-value watch and
the chosen SPC rules, turned into alarm raises and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from app.detectors.alarms import Alarm, Delay, Event, Hysteresis, Return
from app.detectors.messages import render
from app.detectors.scorer import ScorerConfig, StreamScorer
from app.detectors.spc import SpcChart, SpcConfig
from app.detectors.stuck import StuckWatch

SCORE_RULE = "score"
THRESHOLD_RULE = "threshold"  # readings that carry a defect probability: the operator's thresholds
USL_RULE, LSL_RULE = "usl", "lsl"  # a value beyond the line's specification limits
STUCK_RULE = "stuck"  # a value held longer than the signal has ever held one
UNIT_RULES = (THRESHOLD_RULE, USL_RULE, LSL_RULE)  # rules with a threshold in the line's unit: a deadband applies
CRITICAL_SCORE = 2 / 3  # a score event at or above this is critical (twice the anomaly threshold)
CRITICAL_RULES = frozenset({"we-1", "nelson-1"})  # a reading beyond 3 sigma


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that judges a line. The default: the self-calibrating score only.

    ``score_threshold``: score that raises a "score" event (None: no score events).
    ``prob_threshold``, ``value_threshold``: a reading that carries its own defect probability (an
    upstream model's) raises a "threshold" event when both are exceeded (value in the line's unit).
    ``usl``, ``lsl``: specification limits (line's unit): a value above / below raises a "usl" / "lsl" event.
    ``stuck_ratio``, ``stuck_min``: a value held (identical readings in a row, after the score's
    warm-up) at least ``stuck_min`` readings and ``stuck_ratio`` times the longest hold before
    raises a "stuck" event (``stuck_ratio`` None: no such rule).
    ``clear_after``: quiet readings before a raised alarm returns (and its rule can raise again).
    ``alarms``: (rule, Hysteresis) pairs: a rule's on-delay, off-delay (default ``clear_after``
    readings) and deadband; a rule not named raises at its first firing reading.
    """

    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    spc: SpcConfig = field(default_factory=SpcConfig)
    score_threshold: float | None = 0.5
    prob_threshold: float = 0.5
    value_threshold: float = -np.inf
    usl: float | None = None
    lsl: float | None = None
    stuck_ratio: float | None = 4.0
    stuck_min: int = 10
    clear_after: int = 90  # the slow detectors' EWMAs (rate 0.05) forget an episode to 1 % in ~90 readings
    alarms: tuple[tuple[str, Hysteresis], ...] = ()

    def rules(self) -> tuple[str, ...]:
        """The rules that judge the line, the SPC rules last."""
        return (((SCORE_RULE,) if self.score_threshold is not None else ()) + (THRESHOLD_RULE,)
                + ((USL_RULE,) if self.usl is not None else ()) + ((LSL_RULE,) if self.lsl is not None else ())
                + ((STUCK_RULE,) if self.stuck_ratio is not None else ()) + self.spc.active())


class DetectorOutput(NamedTuple):
    """Per reading of a batch: score 0..1, probability (the reading's own, else the score) and SPC
    control lines (NaN before the SPC baseline); plus the alarms raised and returned in the batch."""

    score: np.ndarray
    prob: np.ndarray
    events: list[Event]
    center: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    returns: list[Return]


class LineDetector:
    """Causal, deterministic detector for one line: feeding a series in one batch or in many gives
    the same output. State is O(1) in the stream length."""

    def __init__(self, config: DetectorConfig = DetectorConfig()):
        self.config = config
        self._scorer = StreamScorer(config.scorer)
        self._chart = SpcChart(config.spc)
        self._stuck = StuckWatch(config.stuck_ratio, config.stuck_min) if config.stuck_ratio is not None else None
        self.rules = config.rules()
        designs = dict(config.alarms)
        unknown = sorted(set(designs) - set(self.rules))
        if unknown:
            raise ValueError(f"alarm design for a rule that does not judge this line: {unknown[0]}")
        self._deadband = {rule: h.deadband for rule, h in designs.items()}
        if any(self._deadband[rule] for rule in set(designs) - set(UNIT_RULES)):
            raise ValueError(f"only {', '.join(UNIT_RULES)} have a deadband (a threshold in the line's unit)")
        self._alarms = {}
        for rule in self.rules:
            design = designs.get(rule, Hysteresis())
            self._alarms[rule] = Alarm(design.on_delay, design.off_delay or Delay(config.clear_after))
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
        defect probability. Returns scores, probabilities, control lines, alarms raised and returned.

        A reading with a probability is judged by the thresholds ("threshold"), one without by
        its score ("score"); the spec limits and the SPC rules judge every value. A reading whose
        value or time is not finite is not judged (score 0, NaN lines) and leaves the state untouched."""
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
        judged = np.flatnonzero(valid)  # the alarms see only these
        judged_ts = ts[judged]
        events, returns = [], []
        conditions = self._conditions(value[judged], score[judged], prob[judged], missing[judged], chart_flags)
        held = np.zeros(len(value), dtype=np.int64)  # readings each value has been held (stuck rule)
        if self._stuck is not None:
            fires, held[judged] = self._stuck.update(value[judged])
            conditions[STUCK_RULE] = (fires & (self._seen + judged >= self.config.scorer.warmup), None)
        for rule, (fire, hold) in conditions.items():
            raised, cleared = self._alarms[rule].update(judged_ts, fire, hold)
            events += [self._event(self._seen + k, ts[k], value[k], score[k], rule, held[k])
                       for k in judged[raised].tolist()]
            returns += [Return(self._seen + k, float(ts[k]), rule) for k in judged[cleared].tolist()]
        events.sort(key=lambda e: e.index)
        returns.sort(key=lambda r: r.index)
        self._seen += len(value)
        return DetectorOutput(score, prob, events, center, lcl, ucl, returns)

    def _conditions(self, value, score, prob, missing, chart_flags) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Per rule: where it fires, and where a raised alarm still holds (its deadband; None: where it fires)."""
        cfg, band = self.config, self._deadband
        out = {SCORE_RULE: (missing & (score >= cfg.score_threshold), None)} if cfg.score_threshold is not None else {}
        defect = ~missing & (prob > cfg.prob_threshold)
        out[THRESHOLD_RULE] = (defect & (value > cfg.value_threshold),
                               defect & (value > cfg.value_threshold - band.get(THRESHOLD_RULE, 0.0)))
        if cfg.usl is not None:
            out[USL_RULE] = (value > cfg.usl, value > cfg.usl - band.get(USL_RULE, 0.0))
        if cfg.lsl is not None:
            out[LSL_RULE] = (value < cfg.lsl, value < cfg.lsl + band.get(LSL_RULE, 0.0))
        return out | {rule: (fired, None) for rule, fired in chart_flags.items()}

    def _event(self, index: int, ts: float, value: float, score: float, rule: str, held: int) -> Event:
        if rule == SCORE_RULE:
            severity = "critical" if score >= CRITICAL_SCORE else "warning"
            message = render("alarm_score", value=f"{value:.6g}", score=f"{score:.2f}")
        elif rule == THRESHOLD_RULE:
            severity = "warning"
            cfg = self.config
            message = (render("alarm_threshold_value", prob_threshold=f"{cfg.prob_threshold:g}", value=f"{value:.6g}",
                              value_threshold=f"{cfg.value_threshold:g}") if np.isfinite(cfg.value_threshold)
                       else render("alarm_threshold", prob_threshold=f"{cfg.prob_threshold:g}"))
        elif rule in (USL_RULE, LSL_RULE):
            severity = "critical"  # the product is out of specification
            limit = self.config.usl if rule == USL_RULE else self.config.lsl
            message = render(f"alarm_{rule}", value=f"{value:.6g}", limit=f"{limit:g}")
        elif rule == STUCK_RULE:
            severity = "warning"  # the reading may be right; the sensor or the feed needs a look
            message = render("alarm_stuck", value=f"{value:.6g}", readings=str(held))
        else:
            severity = "critical" if rule in CRITICAL_RULES else "warning"
            message = render("alarm_spc", value=f"{value:.6g}", rule=rule, centre=f"{self._chart.centre:.6g}",
                             sigma=f"{self._chart.sigma:.3g}")
        return Event(int(index), float(ts), rule, severity, message)
