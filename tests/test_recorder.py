import io
import sqlite3

import numpy as np
import pandas as pd

from app.points import Thresholds
from app.history.backends import WAL_LIMIT_BYTES
from app.recorder import Recorder, alerts_csv
from app.store import LineStores

VALUES = np.array([0.4, 0.7, 0.45, 0.8, 0.3])
PROBS = np.array([0.1, 0.9, 0.95, 0.6, 0.2])


def make(tmp_path, capacity=100):
    stores = LineStores(capacity)
    return stores.get("line-1"), Recorder(tmp_path, stores, Thresholds(0.5, 0.5))


def test_flush_records_points_and_alerts_in_wal_mode(tmp_path):
    store, recorder = make(tmp_path)
    store.append(np.arange(5.0) + 1000, VALUES, PROBS)
    assert recorder.flush() == 5
    assert recorder.flush() == 0  # nothing new, nothing written twice
    db = sqlite3.connect(recorder.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT seq FROM points ORDER BY seq").fetchall() == [(i,) for i in range(5)]
    alerts = recorder.alerts()
    assert [a["seq"] for a in alerts] == [3, 1]  # newest first; 2 is below the value threshold
    assert alerts[0]["id"] != alerts[1]["id"] and alerts[0]["line"] == "line-1"
    assert alerts[0]["prob_threshold"] == 0.5 and alerts[0]["value_threshold"] == 0.5


def test_the_write_ahead_log_is_cut_back_after_a_burst_a_reader_held_open(tmp_path):
    """The soak's SQLite step: a burst while a reader holds a snapshot grows the WAL past its usual
    ~4 MiB, and the file kept that size for good."""
    stores = LineStores(100_000)
    store, recorder = stores.get("line-1"), Recorder(tmp_path, stores, Thresholds(0.5, 0.5))
    store.append(np.arange(10.0), np.zeros(10), np.zeros(10))
    recorder.flush()
    reader = sqlite3.connect(recorder.path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM points").fetchone()  # an old snapshot: no checkpoint can finish
    store.append(np.arange(100_000.0) + 10, np.zeros(100_000), np.zeros(100_000))
    recorder.flush()
    wal = recorder.path.with_name(recorder.path.name + "-wal")
    assert wal.stat().st_size > WAL_LIMIT_BYTES  # the burst
    reader.rollback()
    for n in range(2):  # the next commits checkpoint the whole log, then start it again from the top
        store.append(np.arange(1.0) + 200_000 + n, np.zeros(1), np.zeros(1))
        recorder.flush()
    assert wal.stat().st_size <= WAL_LIMIT_BYTES
    reader.close()
    recorder.stop()


def test_restart_restores_the_newest_points_with_their_ids(tmp_path):
    store, recorder = make(tmp_path)
    store.append(np.arange(5.0) + 1000, VALUES, PROBS)
    recorder.flush()
    fresh_store, fresh = make(tmp_path)
    assert fresh.restore(3) == 3
    batch = fresh_store.since(-1)
    assert batch.seq.tolist() == [2, 3, 4]
    assert batch.value.tolist() == VALUES[2:].tolist()
    assert fresh_store.append([1005.0], [0.5], [0.5]).tolist() == [5]
    assert fresh.flush() == 1  # continues after the restored points, no duplicates
    assert fresh.alerts(since_ts=1001.5, until_ts=1003.5)[0]["seq"] == 3


def test_restore_of_an_empty_history_is_a_no_op(tmp_path):
    store, recorder = make(tmp_path)
    assert recorder.restore(10) == 0
    assert store.stats().count == 0


def test_stop_flushes_what_is_left(tmp_path):
    store, recorder = make(tmp_path)
    recorder.start()
    store.append([1.0, 2.0], [0.9, 0.9], [0.9, 0.9])
    recorder.stop()
    assert len(recorder.alerts()) == 2


def test_alerts_csv_has_a_readable_utc_time(tmp_path):
    store, recorder = make(tmp_path)
    store.append([0.0, 1.5], [0.9, 0.9], [0.9, 0.99])
    recorder.flush()
    frame = pd.read_csv(io.StringIO(alerts_csv(recorder.alerts())))
    assert list(frame.columns[:3]) == ["time_utc", "id", "seq"]
    assert frame["time_utc"].tolist() == ["1970-01-01T00:00:01.500000Z", "1970-01-01T00:00:00.000000Z"]


def test_lines_are_recorded_and_restored_apart(tmp_path):
    stores = LineStores(100)
    recorder = Recorder(tmp_path, stores, Thresholds(0.5, 0.5))
    stores.get("line-1").append([1.0, 2.0], [0.4, 0.4], [0.1, 0.1])
    stores.get("line-2").append([1.0], [0.9], [0.9])
    assert recorder.flush() == 3
    fresh = LineStores(100)
    assert Recorder(tmp_path, fresh, Thresholds(0.5, 0.5)).restore(10) == 3
    assert [line for line, _ in fresh.items()] == ["line-1", "line-2"]
    assert fresh.get("line-2").since(-1).seq.tolist() == [0]  # each line has its own sequence ids
    assert [a["line"] for a in recorder.alerts()] == ["line-2"]


def test_retention_drops_old_and_excess_points_per_line(tmp_path):
    from app.recorder import Retention

    stores = LineStores(1000)
    recorder = Recorder(tmp_path, stores, Thresholds(0.5, 0.5), retention=Retention(days=1, points=500))
    now = 10 * 86400.0
    ts = np.concatenate([np.full(100, now - 3 * 86400), np.full(700, now - 3600)])  # 100 too old
    stores.get("line-1").append(ts, np.full(800, 0.9), np.full(800, 0.9))
    stores.get("line-2").append([now - 5 * 86400, now], [0.1, 0.1], [0.1, 0.1])
    recorder.flush()
    assert recorder.enforce_retention(now) == 300 + 1 + 100  # line-1 by count (and age), line-2 by age, old alerts
    db = sqlite3.connect(recorder.path)
    assert db.execute("SELECT MIN(seq), COUNT(*) FROM points WHERE line = 'line-1'").fetchone() == (300, 500)
    assert db.execute("SELECT seq FROM points WHERE line = 'line-2'").fetchall() == [(1,)]
    assert db.execute("SELECT MIN(ts) FROM alerts").fetchone()[0] == now - 3600
    for table in ("rollup_minute", "rollup_hour"):  # the buckets of the dropped days go with them
        assert db.execute(f"SELECT MIN(bucket) FROM {table} WHERE line = 'line-2'").fetchone()[0] == now
        assert db.execute(f"SELECT SUM(n) FROM {table} WHERE line = 'line-1'").fetchone()[0] == 500  # recounted
    assert recorder.enforce_retention(now) == 0


def test_history_of_a_time_range(tmp_path):
    store, recorder = make(tmp_path)
    store.append(np.arange(5.0) + 1000, VALUES, PROBS)
    recorder.flush()
    frame = pd.concat(recorder.history("line-1", 1001, 1003, limit=10))
    assert frame["seq"].tolist() == [1, 2, 3] and frame["value"].tolist() == VALUES[1:4].tolist()
    assert len(pd.concat(recorder.history("line-1", None, None, limit=2))) == 2
