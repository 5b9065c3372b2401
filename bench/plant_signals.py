"""Labelled plant-like signals that are not NAB's, scored as NAB scores: an out-of-sample check.

Five kinds of signal (a drifting temperature, a daily load, a machine's on/off current, heavy-tailed
noise, counts) times five kinds of anomaly (a spike, a level shift, a noisy spell, a stuck sensor, a
drift), 4000 readings at 5-minute steps, one or two anomalies each after reading 1200; a window of
10 % of the file (shared between its anomalies) centred on each anomaly's start, as NAB labels.
Seed ``s`` is signal kind ``s % 5`` with anomaly kind ``(s // 5) % 5``: 100 seeds cover every pair
four times. Magnitudes are in units of the signal's own noise (its steps' spread).
"""
from __future__ import annotations

import numpy as np

READINGS, STEP_S = 4000, 300.0
SIGNALS = ("temperature", "daily load", "on/off current", "heavy-tailed", "counts")
ANOMALIES = ("spike", "level shift", "noisy spell", "stuck sensor", "drift")


def signal(seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Timestamps, values and labelled windows (first, last row) of plant-like signal ``seed``."""
    rng = np.random.default_rng(seed)
    ts = 1.6e9 + STEP_S * np.arange(READINGS)
    kind = seed % len(SIGNALS)
    if kind == 0:
        x = 80.0 + np.cumsum(rng.normal(0.0, 0.02, READINGS)) + rng.normal(0.0, 0.5, READINGS)
    elif kind == 1:
        x = 50.0 + 20.0 * np.sin(2 * np.pi * ts / 86400.0) + rng.normal(0.0, 2.0, READINGS)
    elif kind == 2:
        running = np.repeat(rng.random(READINGS // 50) < 0.6, 50)
        x = np.where(running, 12.0 + rng.normal(0.0, 0.4, READINGS), 0.0)
    elif kind == 3:
        x = 5.0 + 0.3 * rng.standard_t(3, READINGS)
    else:
        x = rng.poisson(8.0, READINGS).astype(float)
    noise = np.std(x[x != 0] if kind == 2 else np.diff(x) / np.sqrt(2.0))
    starts = sorted(rng.choice(np.arange(1200, READINGS - 300), 1 + seed % 2, replace=False).tolist())
    anomaly = ANOMALIES[(seed // len(SIGNALS)) % len(ANOMALIES)]
    for s in starts:
        if anomaly == "spike":
            x[s] += 8.0 * noise
        elif anomaly == "level shift":
            x[s:] += 3.0 * noise
        elif anomaly == "noisy spell":
            x[s:s + 100] += rng.normal(0.0, 3.0 * noise, 100)
        elif anomaly == "stuck sensor":
            x[s:s + 150] = x[s]
        else:
            x[s:s + 200] += np.linspace(0.0, 6.0 * noise, 200)
    half = int(0.1 * READINGS / len(starts)) // 2
    return ts, x, [(max(0, s - half), min(READINGS - 1, s + half)) for s in starts]


def table(scores: list[float]) -> tuple[float, dict[str, float], dict[str, float]]:
    """Mean normalized score over the seeds ``0..len(scores)-1``, and per signal kind and anomaly kind."""
    s = np.array(scores)
    seeds = np.arange(len(s))
    by_signal = {name: float(s[seeds % len(SIGNALS) == k].mean()) for k, name in enumerate(SIGNALS)}
    by_anomaly = {name: float(s[(seeds // len(SIGNALS)) % len(ANOMALIES) == k].mean())
                  for k, name in enumerate(ANOMALIES)}
    return float(s.mean()), by_signal, by_anomaly


def breakdown(by_signal: dict[str, float], by_anomaly: dict[str, float]) -> tuple[str, str]:
    """The per-kind means of :func:`table` as text: by signal kind, by anomaly kind."""
    return tuple(", ".join(f"{name} {score:.1f}" for name, score in means.items()) for means in (by_signal, by_anomaly))
