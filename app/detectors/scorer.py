"""Self-calibrating streaming anomaly score for one signal, in its own units.

How a reading is judged (every estimate is streaming, O(1) state, learnt from the signal itself):

1. **Expectation.** Three models predict the value: a slowly adapting level, a time-of-day profile
   and a day-of-week profile (bins of the signal's cadence, at least 15 min wide). A profile competes
   once it has seen one full period, and is used when its running error is clearly (``profile_gain``)
   below the simpler model's. A profile keeps a scale per bin too, so a busy hour is not judged by
   a quiet hour's noise. A fourth, the state model (:mod:`app.detectors.states`), judges a reading
   by the nearest of a few steady levels a signal switches between (a machine idle and running), so
   a switch is no surprise (no step either) and a change inside a state is; it is used once its
   states persist and recur, when its long-run error is clearly below the level model's and below
   each ready profile's on the same readings (a profile that predicts the switches, as a daily
   pattern's, keeps them); its scale floor is a fraction of its own long-run error.
2. **Surprise.** The residual and its first difference, each divided by its running scale (mean
   absolute deviation, started from the median / MAD of the first readings), give the instant
   surprise of a reading: a spike or a step.
3. **Four detectors** turn surprises into an excess ``u`` (1 = the anomaly threshold):
   *spike*: the surprise against ``spike_ratio`` times the largest spike of recent memory (a
   decaying record), so the routine spikes of a spiky signal stop alarming; only a short excursion
   (at most ``spike_run`` readings in a row above ``spike``) enters the record: a sustained one is a
   shift or a burst, not a spike, and must not blind the spike detector to the next real spike;
   *burst*: the local rate of surprises above ``burst_level`` against its long-run rate (a binomial
   z-score), for bursts;
   *noise*: the local mean of the squared surprise (capped at ``noise_cap``) against its long-run
   mean and spread, for a noise level that grows (a worn bearing's vibration) with few readings
   beyond ``burst_level``;
   *shift*: an EWMA of the clipped signed residual against its own long-run RMS, for sustained
   offsets.
4. **Gate** (the anomaly-likelihood idea): the burst, noise and shift excess count only as far as the
   recent excess (an EWMA of all four) stands out from the signal's own long-run mean of excess by
   ``gate_z`` of its standard deviations, so a noisy, bursty signal whose excess is routinely
   near the threshold stops alarming on it; spikes are not gated.
   The score is u / (1 + u): 0.5 at the threshold.

Estimates are updated with clipped (Huber) residuals, so an outlier moves them a bounded step and a
lasting level shift becomes the new normal: the scorer recovers instead of locking up. During the
warm-up the level and scales adapt faster (``warmup_rate``), so a start-up transient in the first
readings (which start the estimates) is forgotten before judging begins. The long-run baselines of
the burst, noise and shift detectors and of the gate start as running means (their cautious
starting values count as ``long_prior`` readings), so they describe the signal from the first judged
readings instead of taking ~1 / ``long_rate`` readings to forget their starting values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from app.detectors.states import StateModel

DAY_S = 86400.0
WEEK_S = 7 * DAY_S


@dataclass(frozen=True)
class ScorerConfig:
    """Parameters of :class:`StreamScorer`. Rates are per reading; levels are in scale units."""

    init: int = 30  # readings whose median / MAD start the estimates
    warmup: int = 150  # readings scored 0 while the estimates settle (includes ``init``)
    rate: float = 0.01  # adaptation of the level and of the scales
    warmup_rate: float = 0.03  # ... during warm-up: a start-up transient is forgotten by its end
    clip: float = 3.3  # Huber clip of residuals in the updates and in the shift EWMA
    periods: tuple[float, ...] = (DAY_S, WEEK_S)  # seasonal profiles (seconds)
    min_bin_s: float = 900.0  # profile bins are the cadence, at least this wide
    profile_rate: float = 0.3  # adaptation of a profile bin, per visit
    profile_gain: float = 0.7  # a profile is used when its error is below this fraction of the best
    states: int = 3  # most states of the state model (levels a machine switches between: idle, running)
    state_gap: float = 6.0  # a reading this many scales from every state is novel; a new state is this far apart
    state_dwell: float = 20.0  # the state model judges while its states' mean visits are at least this long
    bin_scale_mix: float = 0.5  # a bin's scale is at least this fraction of its profile's scale
    floor_fraction: float = 0.1  # scales stay above this fraction of the long-run mean absolute deviation
    resolution_fraction: float = 0.1  # ... and of the finest step among the first readings
    surprise_cap: float = 100.0  # surprises are capped here (keeps the record and the EWMAs finite)
    spike: float = 4.5  # smallest surprise that is a spike
    spike_ratio: float = 1.55  # a spike must exceed this multiple of the recent record
    record_decay: float = 0.9995  # per reading: the record halves in ~1400 readings
    spike_run: int = 8  # an excursion longer than this (readings above ``spike``) does not enter the record
    burst_level: float = 6.5  # surprises above this count towards a burst
    burst_rate: float = 0.05  # EWMA rate of the local burst rate and of the local mean squared surprise
    burst_z: float = 7.0  # binomial z-score of the local rate that is a burst
    burst_min_rate: float = 0.01  # the long-run rate is taken as at least this
    noise_cap: float = 5.0  # the noise detector caps surprises here before squaring them
    noise_z: float = 9.0  # local mean of the squared surprise this many of its sds above its long-run mean: more noise
    shift_rate: float = 0.05  # EWMA rate of the signed residual
    shift_z: float = 4.0  # EWMA / its long-run RMS that is a shift
    long_rate: float = 0.001  # adaptation of the long-run burst rate, squared surprise, shift RMS and deviation
    gate_rate: float = 0.4  # EWMA rate of the recent excess, judged against the signal's own history of excess
    gate_z: float = 3.25  # a burst or shift needs the recent excess this many sds above its long-run mean (0: off)
    long_prior: float = 30.0  # weight (readings) of the long-run starting values: a running mean until 1 / long_rate (0: off)


def _ewma(x: np.ndarray, rate: float, state: float) -> np.ndarray:
    """y_i = y_{i-1} + rate (x_i - y_{i-1}) from y_{-1} = ``state``."""
    y, _ = lfilter([rate], [1.0, rate - 1.0], x, zi=[(1.0 - rate) * state])
    return y


def _long_ewma(x: np.ndarray, rate: float, state: float, seen: int, prior: float) -> np.ndarray:
    """An EWMA whose rate is at least 1 / (prior + readings so far): the running mean of the readings
    and of ``prior`` readings worth of the starting value, until that rate falls to ``rate``.
    ``seen``: readings before this batch; ``state``: the value after them."""
    if prior <= 0 or (prior + seen + 1) * rate >= 1.0:
        return _ewma(x, rate, state)
    weight = prior + seen + 1 + np.arange(len(x))
    early = int(np.count_nonzero(weight * rate < 1.0))
    y = np.empty(len(x))
    y[:early] = (state * (prior + seen) + np.cumsum(x[:early])) / weight[:early]
    y[early:] = _ewma(x[early:], rate, y[early - 1] if early else state)
    return y


class StreamScorer:
    """Causal anomaly score 0..1 per reading (0.5 = the anomaly threshold); O(1) state."""

    def __init__(self, config: ScorerConfig = ScorerConfig()):
        self.config = config
        self._n = 0
        self._first: list[tuple[float, float]] = []
        self._model: dict = {}  # expectation state, created after the first ``init`` readings
        # detector state: record, local and long-run burst rate, shift EWMA and its mean square, local
        # and long-run mean and mean square of the squared surprise (started at cautious values,
        # which weigh as ``long_prior`` readings in the long-run ones)
        self._record, self._burst, self._burst_long, self._shift, self._shift_ms = config.spike, 0.0, 0.02, 0.0, 1.0
        self._noise, self._noise_mean, self._noise_ms = 2.0, 2.0, 12.0
        self._run_peak, self._run_length = 0.0, 0  # the excursion in progress (readings above ``spike``)
        self._judged = 0  # readings the detectors have seen (after ``init``)
        self._recent, self._u_mean, self._u_ms = 0.0, 0.2, 0.1  # gate: recent excess, long-run mean and mean square

    def score(self, ts: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Scores of a batch in arrival order (0 during warm-up)."""
        ts, value = np.asarray(ts, dtype=float), np.asarray(value, dtype=float)
        out = np.zeros(len(value))
        start = 0
        while start < len(value) and not self._model:
            self._first.append((float(ts[start]), float(value[start])))
            start += 1
            if len(self._first) == self.config.init:
                self._start()
        self._n += start
        if start == len(value):
            return out
        surprise, residual_z = self._surprises(ts[start:], value[start:])
        u = self._excess(surprise, residual_z)
        judged = self._n + np.arange(len(u)) >= self.config.warmup
        out[start:] = np.where(judged, u / (1.0 + u), 0.0)
        self._n += len(u)
        return out

    def _excess(self, surprise: np.ndarray, residual_z: np.ndarray) -> np.ndarray:
        """The four detectors, vectorised over a batch with their state carried between batches."""
        cfg = self.config
        # spike: against the record before each reading (and the peak of the excursion in progress)
        u_spike = surprise / np.maximum(cfg.spike, cfg.spike_ratio * self._spike_record(surprise))
        # burst: local rate of large surprises against the long-run rate before it
        large = (surprise > cfg.burst_level).astype(float)
        burst = _ewma(large, cfg.burst_rate, self._burst)
        long_run = _long_ewma(large, cfg.long_rate, self._burst_long, self._judged, cfg.long_prior)
        p = np.concatenate(([self._burst_long], long_run[:-1]))
        floor_p = np.maximum(p, cfg.burst_min_rate)
        sd = np.sqrt(floor_p * (1.0 - floor_p) * cfg.burst_rate / (2.0 - cfg.burst_rate))
        u_burst = (burst - p) / (cfg.burst_z * sd)
        # shift: EWMA of the signed residual (clipped: one outlier is a spike, not a shift)
        # against the EWMA's long-run RMS before it
        shift = _ewma(np.clip(residual_z, -cfg.clip, cfg.clip), cfg.shift_rate, self._shift)
        mean_square = _long_ewma(shift * shift, cfg.long_rate, self._shift_ms, self._judged, cfg.long_prior)
        ms_before = np.concatenate(([self._shift_ms], mean_square[:-1]))
        u = np.maximum(u_burst, np.abs(shift) / (cfg.shift_z * np.sqrt(ms_before)))  # the slow detectors
        # noise: local mean of the squared surprise (capped: a spike is not noise) against its
        # long-run mean, in standard deviations of that local mean
        squared = np.minimum(surprise, cfg.noise_cap) ** 2
        noise = _ewma(squared, cfg.burst_rate, self._noise)
        standing, noise_mean, noise_ms = self._standing(squared, noise, cfg.burst_rate,
                                                        self._noise_mean, self._noise_ms)
        u = np.maximum(u, standing / cfg.noise_z)
        # gate (the anomaly-likelihood idea): a burst, more noise or a shift counts only as far as the
        # recent excess (all four detectors, EWMA) stands out from this signal's own long-run
        # distribution of excess, so a signal whose bursts are routine stops alarming on them; spikes are not
        # gated (one spike barely moves the recent excess, and it is judged against its record)
        total = np.maximum(u, u_spike)
        recent = _ewma(total, cfg.gate_rate, self._recent)
        standing, u_mean, u_ms = self._standing(total, recent, cfg.gate_rate, self._u_mean, self._u_ms)
        if cfg.gate_z > 0:
            u = np.maximum(u_spike, np.minimum(u, np.maximum(standing / cfg.gate_z, 0.0)))
        else:
            u = total
        self._recent, self._u_mean, self._u_ms = float(recent[-1]), float(u_mean[-1]), float(u_ms[-1])
        self._burst, self._burst_long = float(burst[-1]), float(long_run[-1])
        self._shift, self._shift_ms = float(shift[-1]), float(mean_square[-1])
        self._noise, self._noise_mean, self._noise_ms = float(noise[-1]), float(noise_mean[-1]), float(noise_ms[-1])
        self._judged += len(surprise)
        return u

    def _standing(self, x: np.ndarray, local: np.ndarray, rate: float, mean: float, mean_square: float):
        """How far ``local`` (an EWMA of ``x`` at ``rate``) stands above x's long-run mean before each
        reading, in standard deviations of such an EWMA; and x's long-run mean and mean square after
        each reading (from ``mean`` and ``mean_square`` before the batch)."""
        cfg = self.config
        means = _long_ewma(x, cfg.long_rate, mean, self._judged, cfg.long_prior)
        mean_squares = _long_ewma(x * x, cfg.long_rate, mean_square, self._judged, cfg.long_prior)
        mean_before = np.concatenate(([mean], means[:-1]))
        var_before = np.concatenate(([mean_square], mean_squares[:-1])) - mean_before ** 2
        sd = np.sqrt(np.maximum(var_before, 1e-12) * rate / (2.0 - rate))
        return (local - mean_before) / sd, means, mean_squares

    def _spike_record(self, surprise: np.ndarray) -> np.ndarray:
        """The decaying record of surprises before each reading, at least the peak of the excursion
        in progress (readings above ``spike``): an excursion enters the record when it ends, if it
        lasted at most ``spike_run`` readings."""
        cfg = self.config
        decay, level, longest = cfg.record_decay, cfg.spike, cfg.spike_run
        record, peak, length = self._record, self._run_peak, self._run_length
        before = []
        for s in surprise.tolist():
            before.append(record if record > peak else peak)
            record *= decay
            peak *= decay
            if s > level:
                length += 1
                peak = s if s > peak else peak
                continue
            if length:
                if length <= longest and peak > record:
                    record = peak
                peak, length = 0.0, 0
            record = s if s > record else record
        self._record, self._run_peak, self._run_length = record, peak, length
        return np.array(before)

    def _surprises(self, ts: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Instant surprise and signed residual (scale units) of each reading, updating the models."""
        cfg, m = self.config, self._model
        clip, prate, gain, mix = cfg.clip, cfg.profile_rate, cfg.profile_gain, cfg.bin_scale_mix
        floor_fraction, cap, long_rate, long_prior = cfg.floor_fraction, cfg.surprise_cap, cfg.long_rate, cfg.long_prior
        level, mad, resolution_floor = m["level"], m["mad"], m["resolution_floor"]
        scale, diff_scale, previous = m["scale"], m["diff_scale"], m["previous"]
        profiles, bin_scales, edges, seen = m["profiles"], m["bin_scales"], m["profile_edges"], m["profile_seen"]
        states = m["states"]
        n_profiles = len(profiles)
        bins = [((ts % period) // m["bin_s"]).astype(np.int64) % len(profile)
                for period, profile in zip(cfg.periods, profiles)]
        ready = [ts > m["since"] + period for period in cfg.periods]
        bins_t = list(zip(*[b.tolist() for b in bins])) if n_profiles else [()] * len(ts)
        ready_t = list(zip(*[r.tolist() for r in ready])) if n_profiles else [()] * len(ts)
        warm = min(len(ts), max(0, cfg.warmup - self._n))  # readings of this batch still in warm-up
        rates = [cfg.warmup_rate] * warm + [cfg.rate] * (len(ts) - warm)
        surprises, residuals = [], []
        for x, bin_of, ready_of, rate in zip(value.tolist(), bins_t, ready_t, rates):
            floor = floor_fraction * mad
            if floor < resolution_floor:
                floor = resolution_floor
            # the level model
            r = x - level
            d = r - previous[0]
            previous[0] = r
            s = scale[0]
            c = clip * s
            step = c if r > c else (-c if r < -c else r)
            best_scale, best_r, best_d, best_diff = s, r, d, diff_scale[0]
            level += rate * step
            mad += long_rate * ((r if r > 0 else -r) - mad)
            best_error = s
            rival = mad  # the long-run error the state model must clearly beat
            s += rate * ((step if step > 0 else -step) - s)
            scale[0] = s if s > resolution_floor else resolution_floor
            ds = diff_scale[0]
            ad = d if d > 0 else -d
            ds += rate * ((ad if ad < clip * ds else clip * ds) - ds)
            diff_scale[0] = ds if ds > resolution_floor else resolution_floor
            state_scale, state_r = states.update(x, rate, resolution_floor)  # competes last
            state_ar = state_r if state_r > 0 else -state_r
            state_ar = state_ar if state_ar < clip * states.error else clip * states.error  # clipped (a profile: step)
            # the seasonal profiles
            for k in range(n_profiles):
                b = bin_of[k]
                profile = profiles[k]
                expected = profile[b]
                if expected is None:
                    expected = level
                r = x - expected
                d = r - previous[k + 1]
                previous[k + 1] = r
                s = scale[k + 1]
                if ready_of[k] and s < gain * best_error:
                    bs = bin_scales[k][b]
                    best_scale, best_r, best_d, best_diff, best_error = (
                        bs if bs > mix * s else mix * s, r, d, diff_scale[k + 1], s)
                c = clip * s
                step = c if r > c else (-c if r < -c else r)
                profile[b] = expected + prate * step
                bs = bin_scales[k][b]
                ar = r if r > 0 else -r
                bs += prate * ((ar if ar < clip * bs else clip * bs) - bs)
                bin_scales[k][b] = bs if bs > resolution_floor else resolution_floor
                if ready_of[k]:
                    # the state model's edge on this profile: its clipped error minus ``gain`` times the profile's,
                    # on the same readings (below 0: clearly lower); from its edge on the level, a running mean
                    # (``long_prior``), then an EWMA
                    n = seen[k] + 1
                    edge = edges[k] if n > 1 else states.mad - gain * mad
                    edge += (1.0 / (long_prior + n) if (long_prior + n) * long_rate < 1.0 else long_rate) * (
                        state_ar - gain * (step if step > 0 else -step) - edge)
                    edges[k], seen[k] = edge, n
                    if edge >= 0.0:  # the profile explains the signal as well: the state model stands aside
                        rival = 0.0
                s += rate * ((step if step > 0 else -step) - s)
                scale[k + 1] = s if s > resolution_floor else resolution_floor
                ds = diff_scale[k + 1]
                ad = d if d > 0 else -d
                ds += rate * ((ad if ad < clip * ds else clip * ds) - ds)
                diff_scale[k + 1] = ds if ds > resolution_floor else resolution_floor
            if states.fit and states.mad < gain * rival:
                best_scale, best_r, best_d = state_scale, state_r, 0.0  # a switch of state is no step
                floor = floor_fraction * states.mad
                floor = floor if floor > resolution_floor else resolution_floor
            z = best_r / (best_scale if best_scale > floor else floor)
            zd = best_d / (best_diff if best_diff > floor else floor)
            surprise = max(abs(z), abs(zd))
            surprises.append(surprise if surprise < cap else cap)
            residuals.append(z)
        m.update(level=level, mad=mad)
        return np.array(surprises), np.array(residuals)

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
        step_spread = max(float(np.median(steps)), resolution_floor) if len(steps) else spread
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
        mad = float(np.mean(np.abs(x - level)))
        self._model = dict(
            level=level, mad=mad, resolution_floor=resolution_floor,
            scale=[spread] * models, diff_scale=[step_spread] * models,
            previous=[float(x[-1]) - level] + [0.0] * len(cfg.periods),
            profiles=profiles, bin_scales=bin_scales, bin_s=bin_s, since=float(t[0]),
            profile_edges=[0.0] * len(cfg.periods), profile_seen=[0] * len(cfg.periods),
            states=StateModel(level, spread, mad, gap=cfg.state_gap, most=cfg.states, run=cfg.spike_run,
                              dwell=cfg.state_dwell, clip=cfg.clip, mix=cfg.bin_scale_mix, long_rate=cfg.long_rate,
                              visit_rate=cfg.profile_rate))
        self._first = []
