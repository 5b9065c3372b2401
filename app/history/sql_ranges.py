"""Range pieces read with SQL, the same statements on SQLite and PostgreSQL (app/history/ranges.py)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from app.history.ranges import Source
from app.history.rollups import TABLES

CANDIDATE_COLUMNS = "min_ts, min_value, min_prob, max_ts, max_value, max_prob, top_ts, top_value, top_prob"


class SqlRanges:
    """A :class:`~app.history.ranges.RangeReader` over an open DB-API cursor (``?`` or ``%s`` placeholders)."""

    def __init__(self, cursor, placeholder: str = "?") -> None:
        self.db = cursor
        self.p = placeholder

    def count(self, line: str, parts: Sequence[tuple[Source, float, float]]) -> list[tuple[int, int]]:
        """One statement for every piece (one round trip to a server, however many pieces)."""
        if not parts:
            return []
        where = f"WHERE line = {self.p} AND {{}} >= {self.p} AND {{}} < {self.p}"
        tallies = [f"(SELECT COUNT(*), COUNT(*) FROM points {where.format('ts', 'ts')})" if source == "raw" else
                   f"(SELECT COALESCE(SUM(n), 0), COUNT(*) FROM {TABLES[source]} {where.format('bucket', 'bucket')})"
                   for source, _, _ in parts]
        query = "SELECT * FROM " + ", ".join(f"{tally} AS piece{i}" for i, tally in enumerate(tallies))
        row = self.db.execute(query, tuple(value for _, lo, hi in parts for value in (line, lo, hi))).fetchone()
        return [(int(row[2 * i]), int(row[2 * i + 1])) for i in range(len(parts))]

    def fetch(self, source: Source, line: str, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if source == "raw":
            query = (f"SELECT ts, value, prob FROM points WHERE line = {self.p} AND ts >= {self.p} AND ts < {self.p}"
                     " ORDER BY ts, seq")
        else:
            query = (f"SELECT {CANDIDATE_COLUMNS} FROM {TABLES[source]}"
                     f" WHERE line = {self.p} AND bucket >= {self.p} AND bucket < {self.p} ORDER BY bucket")
        rows = np.array(self.db.execute(query, (line, lo, hi)).fetchall(), dtype=np.float64).reshape(-1, 3)
        return rows[:, 0], rows[:, 1], rows[:, 2]
