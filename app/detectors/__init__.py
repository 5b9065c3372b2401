"""Anomaly detection for a line's readings: pure numpy/scipy, no web framework.

    det = LineDetector(DetectorConfig())        # one per line, O(1) state
    out = det.process(ts, value, prob)          # a batch in arrival order; causal; prob NaN = none given
    out.score                                   # 0..1 per reading (0.5 = anomaly threshold)
    out.prob                                    # the reading's own probability, else its score
    out.events                                  # Event(index, ts, rule, severity, message): alarms raised
    out.returns                                 # Return(index, ts, rule): raised alarms whose condition cleared
    out.center, out.lcl, out.ucl                # SPC control lines (NaN before the SPC baseline)

Modules: ``scorer`` (self-calibrating score; ``states``: its model of the levels a signal switches
between), ``spc`` (Shewhart, Western Electric, Nelson, EWMA, CUSUM), ``stuck`` (a value held longer
than the signal has ever held one), ``alarms`` (one raise and one return per episode: on-delay,
off-delay, deadband), ``messages`` (the events' wording), ``line`` (puts them together per line).
"""

from app.detectors.alarms import Alarm, Delay, Event, Hysteresis, Return
from app.detectors.line import UNIT_RULES, DetectorConfig, DetectorOutput, LineDetector
from app.detectors.scorer import ScorerConfig, StreamScorer
from app.detectors.spc import RULES, SpcChart, SpcConfig
from app.detectors.stuck import StuckWatch

__all__ = ["Alarm", "Delay", "DetectorConfig", "DetectorOutput", "Event", "Hysteresis", "LineDetector", "RULES",
           "Return", "ScorerConfig", "SpcChart", "SpcConfig", "StreamScorer", "StuckWatch", "UNIT_RULES"]
