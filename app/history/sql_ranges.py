"""Range pieces read with SQL, the same statements on SQLite and PostgreSQL (app/history/ranges.py)."""

from __future__ import annotations

import numpy as np

from app.history.ranges import Source
from app.history.rollups import TABLES

CANDIDATE_COLUMNS = "min_ts, min_value, min_prob, max_ts, max_value, max_prob, top_ts, top_value, top_prob"


class SqlRanges:
    """A :class:`~app.history.ranges.RangeReader` over an open DB-API connection (``?`` or ``%s`` placeholders)."""

    def __init__(self, db, placeholder: str = "?") -> None:
        self.db = db
        self.p = placeholder

    def count(self, source: Source, line: str, lo: float, hi: float) -> int:
        if source == "raw":
            query = f"SELECT COUNT(*) FROM points WHERE line = {self.p} AND ts >= {self.p} AND ts < {self.p}"
        else:
            query = (f"SELECT COALESCE(SUM(n), 0) FROM {TABLES[source]}"
                     f" WHERE line = {self.p} AND bucket >= {self.p} AND bucket < {self.p}")
        return int(self.db.execute(query, (line, lo, hi)).fetchone()[0])

    def fetch(self, source: Source, line: str, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if source == "raw":
            query = (f"SELECT ts, value, prob FROM points WHERE line = {self.p} AND ts >= {self.p} AND ts < {self.p}"
                     " ORDER BY ts, seq")
        else:
            query = (f"SELECT {CANDIDATE_COLUMNS} FROM {TABLES[source]}"
                     f" WHERE line = {self.p} AND bucket >= {self.p} AND bucket < {self.p} ORDER BY bucket")
        rows = np.array(self.db.execute(query, (line, lo, hi)).fetchall(), dtype=np.float64).reshape(-1, 3)
        return rows[:, 0], rows[:, 1], rows[:, 2]
