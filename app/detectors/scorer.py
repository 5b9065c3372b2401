"""Self-calibrating streaming anomaly score for one signal, in its own units.

How a reading is judged (every estimate is streaming, O(1) state, learnt from the signal itself):

1. **Expectation.** Three models predict the value: a slowly adapting level, a time-of-day profile
   and a day-of-week profile (bins of the signal's cadence, at least 15 min). A profile competes
   once it has seen one full period; the model with the smallest running error is used. A profile
   keeps a scale per bin too, so a busy hour is not judged by a quiet hour's noise.
2. **Surprise.** The residual and its first difference, each divided by its running scale (mean
   absolute deviation, robustly initialised by the median / MAD of the first readings), give the
   instant surprise of a reading: a spike or a step.
3. **Three detectors** turn surprises into an excess ``u`` (1 = anomaly threshold):
   *spike*: the surprise against ``spike_ratio`` times the largest surprise of recent memory
   (a decaying record), so routine spikes of a spiky signal stop alarming;
   *burst*: the local rate of surprises above ``burst_level`` against its long-run rate (a binomial
   z-score), for bursts and variance changes;
   *shift*: an EWMA of the signed residual against its own long-run RMS, for sustained offsets.
   The score is u / (1 + u), 0.5 at the threshold.

Estimates are updated with clipped (Huber) residuals, so an outlier moves them a bounded step and a
lasting level shift becomes the new normal: the scorer recovers instead of locking up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


@dataclass(frozen=True)
class ScorerConfig:
    """Parameters of :class:`StreamScorer`. Rates are per reading; levels are in scale units."""

    init: int = 30  # readings whose median / MAD start the estimates
    warmup: int = 150  # readings scored 0 while the estimates settle (includes ``init``)
    rate: float = 0.01  # adaptation of the level and of the scales
    clip: float = 3.0  # Huber clip of residuals in the updates
    periods: tuple[float, ...] = (DAY_S, WEEK_S)  # seasonal profiles (seconds)
    min_bin_s: float = 900.0  # profile bins are the cadence, at least this wide
    profile_rate: float = 0.3  # adaptation of a profile bin, per visit
    profile_gain: float = 0.7  # a profile is used when its error is below this fraction of the best
    bin_scale_mix: float = 0.5  # a bin's scale is at least this fraction of the profile's overall scale
    floor_fraction: float = 0.1  # scales stay above this fraction of the mean absolute deviation
    resolution_fraction: float = 0.1  # ... and of the finest step seen in the first readings
    surprise_cap: float = 100.0
    spike: float = 4.0  # smallest surprise that is a spike
    spike_ratio: float = 1.4  # a spike must exceed this multiple of the recent record
    record_decay: float = 0.9995  # per reading: the record halves in ~1400 readings
    burst_level: float = 3.0  # surprises above this count towards a burst
    burst_rate: float = 0.05  # EWMA rate of the local burst rate
    burst_z: float = 7.0  # binomial z-score of the local rate that is a burst
    burst_min_rate: float = 0.01  # long-run rate assumed at least this (no division by zero)
    shift_rate: float = 0.05  # EWMA rate of the signed residual
    shift_z: float = 4.0  # EWMA / its long-run RMS that is a shift
    long_rate: float = 0.001  # adaptation of the long-run burst rate and shift RMS


class StreamScorer:
    """Causal anomaly score 0..1 per reading (0.5 = the anomaly threshold); O(1) state."""

    def __init__(self, config: ScorerConfig = ScorerConfig()):
        self.config = config
        self._n = 0
        self._first: list[tuple[float, float]] = []
        self._s: dict = {}  # the streaming state, created after the first ``init`` readings

    def score(self, ts: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Scores of a batch in arrival order (0 during warm-up)."""
        cfg = self.config
        ts_list = np.asarray(ts, dtype=float).tolist()
        values = np.asarray(value, dtype=float).tolist()
        out = [0.0] * len(values)
        start = 0
        while start < len(values) and not self._s:
            self._first.append((ts_list[start], values[start]))
            self._n += 1
            start += 1
            if self._n == cfg.init:
                self._start()
        if not self._s:
            return np.array(out)
        s = self._s
        level, record, burst, burst_long, shift, shift_ms, mad = (
            s["level"], s["record"], s["burst"], s["burst_long"], s["shift"], s["shift_ms"], s["mad"])
        scale, diff_scale, error, previous = s["scale"], s["diff_scale"], s["error"], s["previous"]
        profiles, bin_scales, bin_s, since = s["profiles"], s["bin_scales"], s["bin_s"], s["since"]
        resolution_floor = s["resolution_floor"]
        rate, clip, prate, gain, mix = cfg.rate, cfg.clip, cfg.profile_rate, cfg.profile_gain, cfg.bin_scale_mix
        periods, models = cfg.periods, range(1 + len(cfg.periods))
        b_rate, b_level, b_z, b_min = cfg.burst_rate, cfg.burst_level, cfg.burst_z, cfg.burst_min_rate
        b_norm = b_rate / (2.0 - b_rate)
        m_rate, m_z, long_rate = cfg.shift_rate, cfg.shift_z, cfg.long_rate
        spike, ratio, decay, cap = cfg.spike, cfg.spike_ratio, cfg.record_decay, cfg.surprise_cap
        floor_fraction, warmup, n = cfg.floor_fraction, cfg.warmup, self._n
        bins = [0] * len(periods)
        for i in range(start, len(values)):
            t, x = ts_list[i], values[i]
            floor = max(resolution_floor, floor_fraction * mad)
            best, best_error = 0, error[0]
            for j, period in enumerate(periods):
                bins[j] = int((t % period) // bin_s) % len(profiles[j])
                if t > since + period and error[j + 1] < gain * best_error:
                    best, best_error = j + 1, error[j + 1]
            surprise = residual_z = 0.0
            for k in models:
                if k == 0:
                    expected = level
                else:
                    b = bins[k - 1]
                    expected = profiles[k - 1][b]
                    if expected is None:
                        expected = level
                r = x - expected
                d = r - previous[k]
                previous[k] = r
                sc = scale[k]
                if k == best:
                    own = sc if k == 0 else max(bin_scales[k - 1][b], mix * sc)
                    residual_z = r / max(own, floor)
                    surprise = max(abs(residual_z), abs(d) / max(diff_scale[k], floor))
                c = clip * sc
                step = max(-c, min(c, r))
                if k == 0:
                    level += rate * step
                else:
                    profiles[k - 1][b] = expected + prate * step
                    bs = bin_scales[k - 1][b]
                    bin_scales[k - 1][b] = max(bs + prate * (min(abs(r), clip * bs) - bs), resolution_floor)
                scale[k] = max(sc + rate * (abs(step) - sc), resolution_floor)
                ds = diff_scale[k]
                diff_scale[k] = max(ds + rate * (min(abs(d), clip * ds) - ds), resolution_floor)
                e = error[k]
                error[k] = e + rate * (min(abs(r), clip * e) - e)
                if k == 0:
                    mad += rate * (abs(r) - mad)
            surprise = min(surprise, cap)
            u = surprise / max(spike, ratio * record)
            record = max(surprise, record * decay)
            burst += b_rate * ((surprise > b_level) - burst)
            p = max(burst_long, b_min)
            u = max(u, (burst - burst_long) / (b_z * math.sqrt(p * (1.0 - p) * b_norm)))
            burst_long += long_rate * ((surprise > b_level) - burst_long)
            shift += m_rate * (max(-cap, min(cap, residual_z)) - shift)
            u = max(u, abs(shift) / (m_z * math.sqrt(shift_ms)))
            shift_ms += long_rate * (min(shift * shift, 4.0 * m_z * m_z * shift_ms) - shift_ms)
            if n >= warmup:
                out[i] = u / (1.0 + u)
            n += 1
        self._n = n
        s.update(level=level, record=record, burst=burst, burst_long=burst_long, shift=shift,
                 shift_ms=shift_ms, mad=mad)
        return np.array(out)

    def _start(self) -> None:
        """Start every estimate robustly from the first readings (median, MAD, finest step)."""
        cfg = self.config
        t = np.array([r[0] for r in self._first])
        x = np.array([r[1] for r in self._first])
        steps = np.abs(np.diff(x))
        level = float(np.median(x))
        finest = float(steps[steps > 0].min()) if np.any(steps > 0) else 0.0
        resolution_floor = max(cfg.resolution_fraction * finest, 1e-12 * max(1.0, abs(level)))
        spread = max(float(np.median(np.abs(x - level))), resolution_floor)
        step_spread = max(float(np.median(steps)), resolution_floor)
        cadence = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
        bin_s = max(cadence, cfg.min_bin_s)
        profiles, bin_scales = [], []
        for period in cfg.periods:
            n_bins = max(1, int(round(period / bin_s)))
            profile: list[float | None] = [None] * n_bins
            for ti, xi in zip(t.tolist(), x.tolist()):
                b = int((ti % period) // bin_s) % n_bins
                old = profile[b]
                profile[b] = xi if old is None else old + cfg.profile_rate * (xi - old)
            profiles.append(profile)
            bin_scales.append([spread] * n_bins)
        models = 1 + len(cfg.periods)
        self._s = dict(
            level=level, scale=[spread] * models, diff_scale=[step_spread] * models, error=[spread] * models,
            previous=[float(x[-1]) - level] + [0.0] * len(cfg.periods),
            profiles=profiles, bin_scales=bin_scales, bin_s=bin_s, since=float(t[0]),
            resolution_floor=resolution_floor, mad=float(np.mean(np.abs(x - level))),
            record=cfg.spike, burst=0.0, burst_long=0.02, shift=0.0, shift_ms=1.0)
        self._first = []
