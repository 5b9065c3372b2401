"""Anomaly detection for a line's readings: pure numpy/scipy, no web framework.

    det = LineDetector(DetectorConfig())        # one per line, O(1) state
    out = det.process(ts, value, prob)          # a batch in arrival order; causal; prob NaN = none given
    out.score                                   # 0..1 per reading (0.5 = anomaly threshold)
    out.prob                                    # the reading's own probability, else its score
    out.events                                  # Event(index, ts, rule, severity, message), raises only
    out.center, out.lcl, out.ucl                # SPC control lines (NaN before the SPC baseline)

Modules: ``scorer`` (self-calibrating score), ``spc`` (Shewhart, Western Electric, Nelson, EWMA,
CUSUM), ``alarms`` (one event per episode), ``messages`` (the events' wording), ``line`` (puts them
together per line).
"""

from app.detectors.alarms import Alarm, Event
from app.detectors.line import DetectorConfig, DetectorOutput, LineDetector
from app.detectors.scorer import ScorerConfig, StreamScorer
from app.detectors.spc import RULES, SpcChart, SpcConfig

__all__ = ["Alarm", "DetectorConfig", "DetectorOutput", "Event", "LineDetector", "RULES",
           "ScorerConfig", "SpcChart", "SpcConfig", "StreamScorer"]
