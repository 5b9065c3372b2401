"""The unit of data: a batch of scored readings held as numpy columns."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEFAULT_LINE = "line-1"


class PointBatch(NamedTuple):
    """Readings in sequence order: ``seq`` ids, epoch-second ``ts``, ``value`` and ``prob``."""

    seq: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    prob: np.ndarray

    @classmethod
    def empty(cls) -> "PointBatch":
        return cls(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0))

    def __len__(self) -> int:
        return len(self.seq)

    def to_columns(self) -> dict[str, list]:
        """JSON-ready columns (the shape the browser and the API receive)."""
        return {
            "seq": self.seq.tolist(),
            "ts": self.ts.tolist(),
            "value": self.value.tolist(),
            "prob": self.prob.tolist(),
        }


class Thresholds(NamedTuple):
    """The operator's anomaly rule: defect probability and value (in the line's unit) both above their limits."""

    prob: float
    value: float


def anomaly_mask(batch: PointBatch, thresholds: Thresholds) -> np.ndarray:
    """Boolean mask of the points that are anomalies under ``thresholds``."""
    return (batch.prob > thresholds.prob) & (batch.value > thresholds.value)
