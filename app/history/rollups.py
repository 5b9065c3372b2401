"""Per-minute and per-hour rollups of a line's readings, maintained as readings are written.

A bucket row keeps count and sum (the mean), first and last value, and three whole readings
(ts, value, prob): the lowest value, the highest value and the highest defect probability; a
range answered from rollups draws those readings, so every point is a real one and a one-reading
spike survives.  ``rollup_rows`` computes a batch's rows; ``UPSERT`` merges them into rows already
written (same SQL for SQLite and PostgreSQL).
"""

from __future__ import annotations

import numpy as np

WIDTHS = {"minute": 60.0, "hour": 3600.0}
TABLES = {"minute": "rollup_minute", "hour": "rollup_hour"}
COLUMNS = ("line", "bucket", "n", "total", "min_ts", "min_value", "min_prob", "max_ts", "max_value", "max_prob",
           "top_ts", "top_value", "top_prob", "first_ts", "first_value", "last_ts", "last_value")


def schema(table: str, text: str = "TEXT", real: str = "REAL", integer: str = "INTEGER") -> str:
    """CREATE TABLE of a rollup table, with the backend's type names."""
    kinds = {"line": text, "n": integer}
    columns = ", ".join(f"{name} {kinds.get(name, real)} NOT NULL" for name in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY (line, bucket))"


def upsert(table: str, placeholder: str = "?") -> str:
    """INSERT of rollup rows that merges each into the bucket's row already written."""
    def pick(prefix: str, wins: str, fields: tuple[str, ...] = ("ts", "value", "prob")) -> list[str]:
        return [f"{prefix}_{field} = CASE WHEN {wins} THEN excluded.{prefix}_{field} ELSE {table}.{prefix}_{field} END"
                for field in fields]
    merged = [f"n = {table}.n + excluded.n", f"total = {table}.total + excluded.total",
              *pick("min", f"excluded.min_value < {table}.min_value"),
              *pick("max", f"excluded.max_value > {table}.max_value"),
              *pick("top", f"excluded.top_prob > {table}.top_prob"),
              *pick("first", f"excluded.first_ts < {table}.first_ts", ("ts", "value")),
              *pick("last", f"excluded.last_ts >= {table}.last_ts", ("ts", "value"))]
    return (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join([placeholder] * len(COLUMNS))})"
            f" ON CONFLICT (line, bucket) DO UPDATE SET {', '.join(merged)}")


def rollup_rows(line: str, ts: np.ndarray, value: np.ndarray, prob: np.ndarray, width: float) -> list[tuple]:
    """The rollup rows (COLUMNS order) of readings, one per ``width``-second bucket they fall in."""
    if not len(ts):
        return []
    bucket = np.floor(ts / width) * width

    def ends(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bucket (ascending): the bucket, the index of its lowest and of its highest ``key``."""
        order = np.lexsort((key, bucket))
        sorted_buckets = bucket[order]
        starts = np.flatnonzero(np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]])
        return sorted_buckets[starts], order[starts], order[np.r_[starts[1:], len(order)] - 1]

    buckets, low, high = ends(value)
    _, _, top = ends(prob)
    _, first, last = ends(ts)
    counts = np.bincount(np.searchsorted(buckets, bucket), minlength=len(buckets))
    totals = np.bincount(np.searchsorted(buckets, bucket), weights=value, minlength=len(buckets))
    return list(zip([line] * len(buckets), buckets.tolist(), counts.tolist(), totals.tolist(),
                    ts[low].tolist(), value[low].tolist(), prob[low].tolist(),
                    ts[high].tolist(), value[high].tolist(), prob[high].tolist(),
                    ts[top].tolist(), value[top].tolist(), prob[top].tolist(),
                    ts[first].tolist(), value[first].tolist(), ts[last].tolist(), value[last].tolist()))


REBUILD_CHUNK = 100_000


def rebuild(db, placeholder: str = "?", lines: list[str] | None = None) -> int:
    """Build the rollups of ``lines`` (default: every line) from their points, in chunks of ids merged
    as the writer merges; the count of readings read.  For a history written before the rollups, and
    migrations (their rows must not be there yet)."""
    if lines is None:
        lines = [row[0] for row in db.execute("SELECT DISTINCT line FROM points").fetchall()]
    read = 0
    for line in lines:
        after = -1
        while True:
            rows = db.execute(f"SELECT seq, ts, value, prob FROM points WHERE line = {placeholder}"
                              f" AND seq > {placeholder} ORDER BY seq LIMIT {REBUILD_CHUNK}", (line, after)).fetchall()
            if not rows:
                break
            data = np.array(rows, dtype=np.float64)
            for level, table in TABLES.items():
                buckets = rollup_rows(line, data[:, 1], data[:, 2], data[:, 3], WIDTHS[level])
                db.cursor().executemany(upsert(table, placeholder), buckets)
            after, read = int(rows[-1][0]), read + len(rows)
    return read


def trim(db, line: str, oldest: float | None, placeholder: str = "?") -> None:
    """After older points of ``line`` were deleted: drop the buckets before ``oldest`` (the oldest
    point kept; None: no point left) and recount the bucket it falls in from the points."""
    p = placeholder
    for level, table in TABLES.items():
        width = WIDTHS[level]
        if oldest is None:
            db.execute(f"DELETE FROM {table} WHERE line = {p}", (line,))
            continue
        edge = float(np.floor(oldest / width) * width)
        db.execute(f"DELETE FROM {table} WHERE line = {p} AND bucket <= {p}", (line, edge))
        rows = db.execute(f"SELECT ts, value, prob FROM points WHERE line = {p} AND ts >= {p} AND ts < {p}",
                          (line, edge, edge + width)).fetchall()
        data = np.array(rows, dtype=np.float64).reshape(-1, 3)
        db.cursor().executemany(upsert(table, p), rollup_rows(line, data[:, 0], data[:, 1], data[:, 2], width))
