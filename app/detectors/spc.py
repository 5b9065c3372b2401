"""Statistical process control: Shewhart limits, Western Electric and Nelson rules, EWMA, CUSUM.

The rule functions are pure and vectorised over standardised values ``z = (x - centre) / sigma``.
:class:`SpcChart` runs them on a stream: it learns the centre line and sigma from a baseline
period, then carries the few values and sums each rule needs, so one batch or many give the same
flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

D2_INDIVIDUALS = 1.128  # d2 for moving ranges of 2: sigma = mean moving range / d2
LOOKBACK = 15  # the longest pattern (Nelson 7) spans 15 readings
RULES = ("we-1", "we-2", "we-3", "we-4", *(f"nelson-{k}" for k in range(1, 9)),
         "ewma", "cusum-up", "cusum-down")


@dataclass(frozen=True)
class SpcConfig:
    """Which SPC rules judge a line, and their parameters (sigma units).

    ``rules`` names any of :data:`RULES`; "cusum" turns on both sides. Empty by default: SPC
    assumes a process that is stable during its baseline, which the line must confirm first.
    """

    rules: frozenset[str] = frozenset()
    baseline: int = 100  # readings that set the centre line and sigma
    ewma_lambda: float = 0.2
    ewma_l: float = 3.0
    cusum_k: float = 0.5
    cusum_h: float = 5.0

    def active(self) -> tuple[str, ...]:
        """The enabled rule names, in :data:`RULES` order."""
        wanted = set(self.rules) | ({"cusum-up", "cusum-down"} if "cusum" in self.rules else set())
        unknown = wanted - set(RULES) - {"cusum"}
        if unknown:
            raise ValueError(f"unknown SPC rules: {sorted(unknown)}")
        return tuple(r for r in RULES if r in wanted)


def shewhart_limits(baseline: np.ndarray) -> tuple[float, float]:
    """Centre line and sigma of an individuals chart: the mean, and mean moving range / 1.128.

    Control limits are centre ± 3 sigma. The moving range keeps a slow drift inside the
    baseline from inflating sigma."""
    x = np.asarray(baseline, dtype=float)
    if len(x) < 2:
        raise ValueError("a baseline needs at least 2 readings")
    return float(x.mean()), float(np.abs(np.diff(x)).mean() / D2_INDIVIDUALS)


def _count_last(mask: np.ndarray, k: int) -> np.ndarray:
    """How many of the (up to) k readings ending at each position are True."""
    c = np.concatenate(([0], np.cumsum(mask)))
    return c[1:] - c[np.maximum(np.arange(1, len(c)) - k, 0)]


def _run(mask: np.ndarray, k: int) -> np.ndarray:
    """True where the k readings ending here all satisfy ``mask``."""
    return _count_last(mask, k) == k


def _m_of_k(beyond: np.ndarray, m: int, k: int) -> np.ndarray:
    """True where this reading is beyond the limit and at least m of the last k are (one side)."""
    return beyond & (_count_last(beyond, k) >= m)


def rule_flags(z: np.ndarray, rule: str) -> np.ndarray:
    """Where ``rule`` fires on the standardised series ``z``: the reading that completes the pattern.

    Western Electric: 1 one beyond 3 sigma; 2 two of three beyond 2 sigma, same side; 3 four of
    five beyond 1 sigma, same side; 4 eight in a row on one side. Nelson: 1 one beyond 3 sigma;
    2 nine in a row on one side; 3 six in a row steadily rising or falling; 4 fourteen in a row
    alternating up and down; 5 = WE 2; 6 = WE 3; 7 fifteen in a row within 1 sigma; 8 eight in a
    row beyond 1 sigma, on both sides. For m-of-k rules the completing reading is itself beyond
    (and at the very start m of the readings so far suffice); runs need all k readings.
    A reading exactly on the centre line is on neither side; equal neighbours neither rise nor fall.
    """
    z = np.asarray(z, dtype=float)
    up, down = z > 0, z < 0
    if rule in ("we-1", "nelson-1"):
        return np.abs(z) > 3
    if rule in ("we-2", "nelson-5"):
        return _m_of_k(z > 2, 2, 3) | _m_of_k(z < -2, 2, 3)
    if rule in ("we-3", "nelson-6"):
        return _m_of_k(z > 1, 4, 5) | _m_of_k(z < -1, 4, 5)
    if rule in ("we-4", "nelson-2"):
        k = 8 if rule == "we-4" else 9
        return _run(up, k) | _run(down, k)
    step = np.sign(np.diff(z, prepend=np.nan))  # nan at the first reading: no direction yet
    if rule == "nelson-3":
        return _run(step > 0, 5) | _run(step < 0, 5)  # 6 readings = 5 steps
    if rule == "nelson-4":
        flips = np.concatenate(([False], step[1:] * step[:-1] < 0))
        return _run(flips, 12)  # 14 readings = 13 steps = 12 changes of direction
    if rule == "nelson-7":
        return _run(np.abs(z) < 1, 15)
    if rule == "nelson-8":
        return _run(np.abs(z) > 1, 8) & (_count_last(z > 1, 8) > 0) & (_count_last(z < -1, 8) > 0)
    raise ValueError(f"not a pattern rule: {rule}")


def ewma(z: np.ndarray, lam: float, state: float = 0.0) -> np.ndarray:
    """EWMA of ``z`` starting from ``state`` (the previous EWMA value; 0 = the centre line)."""
    y, _ = lfilter([lam], [1.0, lam - 1.0], np.asarray(z, dtype=float), zi=[(1.0 - lam) * state])
    return y


def ewma_halfwidth(t: np.ndarray, lam: float, width: float) -> np.ndarray:
    """EWMA control-limit half-width (sigma units) after t = 1, 2, ... readings (exact, not asymptotic)."""
    return width * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * t)))


def cusum(y: np.ndarray, state: float = 0.0) -> np.ndarray:
    """Tabular CUSUM C_t = max(0, C_{t-1} + y_t) from C_0 = ``state``, without a loop.

    With S_t = C_0 + y_1 + ... + y_t, C_t = S_t - min(0, min_{j<=t} S_j)."""
    s = state + np.cumsum(np.asarray(y, dtype=float))
    return s - np.minimum(np.minimum.accumulate(s), 0.0)


class SpcChart:
    """Streaming SPC for one line: baseline, then per-rule flags; O(1) state.

    ``update`` returns (flags by rule, centre, lcl, ucl) for a batch; readings inside the baseline
    period get no flags and NaN control lines."""

    def __init__(self, config: SpcConfig):
        self.config = config
        self.rules = config.active()
        self._baseline: list[float] = []
        self.centre = self.sigma = float("nan")
        self._tail = np.empty(0)  # last LOOKBACK-1 standardised readings
        self._ewma = 0.0
        self._ewma_t = 0
        self._cusum_up = self._cusum_down = 0.0

    @property
    def ready(self) -> bool:
        return not np.isnan(self.centre)

    def update(self, value: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        value = np.asarray(value, dtype=float)
        n = len(value)
        flags = {r: np.zeros(n, dtype=bool) for r in self.rules}
        lines = np.full((3, n), np.nan)
        start = 0
        if not self.ready:
            start = min(n, self.config.baseline - len(self._baseline))
            self._baseline.extend(value[:start].tolist())
            if len(self._baseline) < self.config.baseline:
                return flags, *lines
            self.centre, self.sigma = shewhart_limits(np.array(self._baseline))
            self.sigma = self.sigma or 1e-12 * max(1.0, abs(self.centre))  # a flat baseline
            self._baseline = []
        z = (value[start:] - self.centre) / self.sigma
        lines[:, start:] = np.array([[self.centre], [self.centre - 3 * self.sigma], [self.centre + 3 * self.sigma]])
        for rule, flag in self._judge(z).items():
            flags[rule][start:] = flag
        return flags, *lines

    def _judge(self, z: np.ndarray) -> dict[str, np.ndarray]:
        cfg, out = self.config, {}
        history = np.concatenate((self._tail, z))
        for rule in self.rules:
            if rule == "ewma":
                smooth = ewma(z, cfg.ewma_lambda, self._ewma)
                t = self._ewma_t + np.arange(1, len(z) + 1)
                out[rule] = np.abs(smooth) > ewma_halfwidth(t, cfg.ewma_lambda, cfg.ewma_l)
                if len(z):
                    self._ewma, self._ewma_t = float(smooth[-1]), int(t[-1])
            elif rule == "cusum-up":
                c = cusum(z - cfg.cusum_k, self._cusum_up)
                out[rule] = c > cfg.cusum_h
                self._cusum_up = float(c[-1]) if len(z) else self._cusum_up
            elif rule == "cusum-down":
                c = cusum(-z - cfg.cusum_k, self._cusum_down)
                out[rule] = c > cfg.cusum_h
                self._cusum_down = float(c[-1]) if len(z) else self._cusum_down
            else:
                out[rule] = rule_flags(history, rule)[len(self._tail):]
        self._tail = history[-(LOOKBACK - 1):]
        return out
