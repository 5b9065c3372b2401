"""A realistic inspection line: a sensor with drift, machine cycle, noise and scratch bursts,
and the vision model upstream that gives each reading its scratch probability (as in the seed)."""

from __future__ import annotations

import time

import numpy as np

from app.points import DEFAULT_LINE
from app.readings import Readings
from app.sources.base import ThreadedSource

BASELINE = 0.42
MAX_STEP_S = 0.05  # at high rates, readings are generated in batches this often


class SensorModel:
    """Generates readings: a slowly drifting baseline, a 30 s machine cycle, sensor noise, and
    scratch bursts (a few seconds of raised readings) about every ``burst_every_s``; with each,
    the probability an imperfect vision model gives the scratch (sure of the deep ones)."""

    def __init__(self, rng: np.random.Generator, burst_every_s: float = 40.0) -> None:
        self.rng = rng
        self.burst_every_s = burst_every_s
        self._drift = 0.0
        self._burst_left_s = 0.0
        self._burst_severity = 0.0

    def readings(self, ts: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Values and scratch probabilities at times ``ts`` (epoch s), ``dt`` seconds apart."""
        values, scratch = np.empty(len(ts)), np.empty(len(ts))
        for i, t in enumerate(ts):
            self._drift += -0.01 * self._drift + self.rng.normal(0.0, 0.002)
            if self._burst_left_s <= 0 and self.rng.random() < dt / self.burst_every_s:
                self._burst_left_s = self.rng.uniform(1.5, 6.0)
                self._burst_severity = self.rng.uniform(0.12, 0.35)
            burst = 0.0
            if self._burst_left_s > 0:
                burst = self._burst_severity * self.rng.uniform(0.4, 1.0)
                self._burst_left_s -= dt
            cycle = 0.03 * np.sin(2 * np.pi * t / 30.0)
            values[i] = BASELINE + self._drift + cycle + self.rng.normal(0.0, 0.02) + burst
            scratch[i] = burst
        logit = np.clip((scratch - 0.08) / 0.02 + self.rng.normal(0.0, 0.7, len(ts)), -60.0, 60.0)
        return values, 1.0 / (1.0 + np.exp(-logit))


class SimulatorSource(ThreadedSource):
    """The built-in source: ``rate`` readings per second of ``line``, each with its scratch
    probability, through ``ingestor`` like any outside source's."""

    name = "simulator"

    def __init__(self, ingestor, rate: float, line: str = DEFAULT_LINE, seed: int | None = None,
                 clock=time.time) -> None:
        super().__init__(interval=max(1.0 / rate, MAX_STEP_S))
        self.ingestor = ingestor
        self.rate = rate
        self.line = line
        self.sensor = SensorModel(np.random.default_rng(seed))
        self.clock = clock
        self._last_ts: float | None = None

    def step(self) -> None:
        now = self.clock()
        if self._last_ts is None:
            self._last_ts = now  # the first reading comes one period after start
        n = int((now - self._last_ts) * self.rate)
        if n <= 0:
            return
        ts = self._last_ts + np.arange(1, n + 1) / self.rate
        self._last_ts = float(ts[-1])
        values, probs = self.sensor.readings(ts, 1.0 / self.rate)
        self.ingestor.ingest(Readings(ts, values, probs, [self.line] * n), durable=False)
