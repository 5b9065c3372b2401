"""Self-calibrating streaming anomaly score for one signal, in its own units.

Per reading, after a robust warm-up (median / median absolute deviation of the first readings):

1. Expect the value from a baseline: a slowly adapting level, or, once a day of data shows it
   predicts better, a time-of-day profile. The residual and its first difference are divided by
   their own running scales (mean absolute deviation), which gives two scale-free surprises.
2. Surprise on several time scales: the instant one (a spike or a step) and exponentially
   weighted means of its square (a burst, a change of variance, a sustained offset).
3. Each time scale is judged against its own history: a reading scores 0.5 when its surprise
   reaches ``gamma`` times the running upper quantile (exceeded a fraction ``tail`` of the time)
   of that surprise, or its absolute floor, whichever is higher. Signals that are always spiky
   thus raise their own bar.

Every estimate is updated with the clipped (Huber) residual, so an outlier moves the baseline a
little and a lasting level shift becomes the new normal: the scorer recovers instead of locking up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAY_S = 86400.0


@dataclass(frozen=True)
class ScorerConfig:
    """Parameters of :class:`StreamScorer`; rates are per reading, thresholds in scale units."""

    init: int = 30  # readings whose median / MAD start the baseline
    warmup: int = 150  # readings scored 0 while the estimates settle (includes ``init``)
    rate: float = 0.01  # adaptation rate of the level and of the scales
    clip: float = 3.0  # Huber clip of residuals in the updates, in scale units
    profile_bins: int = 96  # time-of-day profile resolution (15 min)
    profile_rate: float = 0.3  # adaptation of a profile bin, per visit
    profile_gain: float = 0.7  # use the profile when its error is below this fraction of the level's
    spike: float = 5.0  # floor of the instant surprise
    smoothing: tuple[float, ...] = (0.1, 0.02)  # rates of the smoothed squared surprises
    floors: tuple[float, ...] = (3.0, 2.0)  # their floors (root-mean-square surprise)
    cap: float = 10.0  # clip of the surprise fed to the smoothed ones
    gamma: float = 1.1  # multiple of the running quantile that scores 0.5
    tail: float = 0.01  # fraction of readings above the running quantile
    quantile_rate: float = 0.05  # log-step of the running quantile


class StreamScorer:
    """Causal anomaly score 0..1 per reading (0.5 = anomaly threshold); O(1) state."""

    def __init__(self, config: ScorerConfig = ScorerConfig()):
        self.config = config
        self._n = 0
        self._first: list[float] = []
        self._t0: float | None = None
        self._profile: list[float | None] = [None] * config.profile_bins
        levels = [config.spike] + [f * f for f in config.floors]
        self._floors = tuple(levels)
        self._quantiles = list(levels)
        self._smooth = [0.0] * len(config.smoothing)
        # level, its scales (residual, difference), profile scales, model errors, last residuals
        self._state: list[float] = []

    def score(self, ts: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Scores of a batch in arrival order (0 during warm-up)."""
        cfg = self.config
        out = np.zeros(len(value))
        ts_list, values = np.asarray(ts, dtype=float).tolist(), np.asarray(value, dtype=float).tolist()
        i = 0
        while i < len(values) and self._n < cfg.init:
            self._learn_first(ts_list[i], values[i])
            i += 1
        if i == len(values):
            return out
        (level, s_lev, s_lev_d, s_pro, s_pro_d, err_lev, err_pro, prev_lev, prev_pro, floor) = self._state
        profile, bins, rate, clip, prate = self._profile, cfg.profile_bins, cfg.rate, cfg.clip, cfg.profile_rate
        smooth, quantiles, floors = self._smooth, self._quantiles, self._floors
        rates, cap, gamma = cfg.smoothing, cfg.cap, cfg.gamma
        up, down = math.exp(cfg.quantile_rate * (1 - cfg.tail)), math.exp(-cfg.quantile_rate * cfg.tail)
        seasonal_after, warmup, n = self._t0 + DAY_S, cfg.warmup, self._n
        for i in range(i, len(values)):
            t, x = ts_list[i], values[i]
            b = int((t % DAY_S) * bins / DAY_S)
            expected = profile[b]
            if expected is None:
                expected = level
            r_lev, r_pro = x - level, x - expected
            d_lev, d_pro = r_lev - prev_lev, r_pro - prev_pro
            prev_lev, prev_pro = r_lev, r_pro
            if t > seasonal_after and err_pro < cfg.profile_gain * err_lev:
                surprise = max(abs(r_pro) / s_pro, abs(d_pro) / s_pro_d)
            else:
                surprise = max(abs(r_lev) / s_lev, abs(d_lev) / s_lev_d)
            # Huber updates: a clipped residual moves each estimate a bounded step
            c = clip * s_lev
            level += rate * max(-c, min(c, r_lev))
            s_lev = max(s_lev + rate * (min(abs(r_lev), c) - s_lev), floor)
            c = clip * s_lev_d
            s_lev_d = max(s_lev_d + rate * (min(abs(d_lev), c) - s_lev_d), floor)
            c = clip * s_pro
            profile[b] = expected + prate * max(-c, min(c, r_pro))
            s_pro = max(s_pro + rate * (min(abs(r_pro), c) - s_pro), floor)
            c = clip * s_pro_d
            s_pro_d = max(s_pro_d + rate * (min(abs(d_pro), c) - s_pro_d), floor)
            err_lev += rate * (min(abs(r_lev), clip * err_lev) - err_lev)
            err_pro += rate * (min(abs(r_pro), clip * err_pro) - err_pro)
            # each time scale against its own running upper quantile
            u = surprise / max(floors[0], gamma * quantiles[0])
            quantiles[0] *= up if surprise > quantiles[0] else down
            z2 = min(surprise, cap) ** 2
            for k, a in enumerate(rates):
                m = smooth[k] = smooth[k] + a * (z2 - smooth[k])
                q = quantiles[k + 1]
                u = max(u, m / max(floors[k + 1], gamma * q))
                quantiles[k + 1] = q * (up if m > q else down)
            if n >= warmup:
                out[i] = u / (1.0 + u)
            n += 1
        self._n = n
        self._state = [level, s_lev, s_lev_d, s_pro, s_pro_d, err_lev, err_pro, prev_lev, prev_pro, floor]
        return out

    def _learn_first(self, t: float, x: float) -> None:
        """Warm-up: collect the first readings, then start every estimate robustly from them."""
        cfg = self.config
        self._t0 = t if self._t0 is None else self._t0
        b = int((t % DAY_S) * cfg.profile_bins / DAY_S)
        old = self._profile[b]
        self._profile[b] = x if old is None else old + cfg.profile_rate * (x - old)
        self._first.append(x)
        self._n += 1
        if self._n < cfg.init:
            return
        a = np.array(self._first)
        steps = np.abs(np.diff(a))
        level = float(np.median(a))
        # the finest step seen is the signal's resolution: no scale may shrink below it
        floor = max(float(steps[steps > 0].min()) if np.any(steps > 0) else 0.0, 1e-12 * max(1.0, abs(level)))
        s_res = max(float(np.median(np.abs(a - level))), floor)
        s_diff = max(float(np.median(steps)), floor)
        self._state = [level, s_res, s_diff, s_res, s_diff, s_res, s_res, x - level, 0.0, floor]
        self._first = []
