"""Defect scoring: turns raw sensor values into a defect (scratch) probability."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np


class Scorer(Protocol):
    """Pluggable scorer: maps a batch of values (in arrival order) to probabilities 0..1."""

    def score(self, values: np.ndarray) -> np.ndarray: ...


class ZScoreScorer:
    """Logistic of how far a value rises above its running baseline (one-sided: scratches raise it).

    The baseline is an exponentially weighted mean and variance that ignores outliers,
    so a defect burst does not teach the scorer that defects are normal.
    """

    def __init__(self, alpha: float = 0.02, steepness: float = 2.0, midpoint_z: float = 3.0,
                 outlier_z: float = 3.0, initial_mean: float | None = None, initial_std: float = 0.05):
        self.alpha = alpha
        self.steepness = steepness
        self.midpoint_z = midpoint_z
        self.outlier_z = outlier_z
        self._mean = initial_mean
        self._var = initial_std ** 2

    def score(self, values: np.ndarray) -> np.ndarray:
        probs = np.empty(len(values))
        for i, value in enumerate(np.asarray(values, dtype=float)):
            if self._mean is None:
                self._mean = value
            z = (value - self._mean) / math.sqrt(self._var)
            logit = min(max(self.steepness * (z - self.midpoint_z), -60.0), 60.0)  # exp() stays finite
            probs[i] = 1.0 / (1.0 + math.exp(-logit))
            if abs(z) < self.outlier_z:
                deviation = value - self._mean
                self._mean += self.alpha * deviation
                self._var = (1 - self.alpha) * (self._var + self.alpha * deviation * deviation)
                self._var = max(self._var, 1e-6)
        return probs
