"""Replay of recorded files: same points as the file, its timing scaled, looping, clear errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.ingest import Ingestor
from app.points import Thresholds
from app.recorder import Recorder
from app.sources.replay import ReplaySource
from app.store import LineStores

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "replay" / "line-1-scratches.csv"


class FakeClock:
    def __init__(self, now=2_000_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def replay(tmp_path, path, **kwargs):
    stores = LineStores(100_000)
    ingestor = Ingestor(stores, Recorder(tmp_path, stores, Thresholds(0.5, 0.5)))
    clock = FakeClock()
    return ReplaySource(path, ingestor, clock=clock, **kwargs), stores, clock


def run_for(source, clock, seconds, step=0.5):
    for _ in range(int(seconds / step)):
        source.step()
        clock.now += step
    source.step()


def test_the_shipped_sample_replays_as_the_same_points(tmp_path):
    source, stores, clock = replay(tmp_path, SAMPLE)
    started = clock.now
    expected = pd.read_csv(SAMPLE)
    run_for(source, clock, expected["ts"].iloc[-1] - expected["ts"].iloc[0] + 1)
    batch = stores.get("line-1").since(-1)
    assert len(batch) == len(expected)
    assert batch.value.tolist() == expected["value"].tolist()
    assert batch.prob.tolist() == expected["defect_prob"].tolist()
    assert np.allclose(batch.ts - started, expected["ts"] - expected["ts"].iloc[0])
    assert ((batch.prob > 0.5) & (batch.value > 0.5)).sum() > 20  # it shows defect bursts
    assert source.health().state == "finished"


def test_speed_scales_time_and_playback_is_gradual(tmp_path):
    source, stores, clock = replay(tmp_path, SAMPLE, speed=10)
    run_for(source, clock, 6)  # 60 s of recording at 2 points/s
    assert 118 <= stores.get("line-1").stats().count <= 122
    batch = stores.get("line-1").since(-1)
    assert np.allclose(np.diff(batch.ts), 0.05)


def test_loop_starts_over_after_the_last_point(tmp_path):
    path = tmp_path / "three.parquet"
    pd.DataFrame({"ts": [10.0, 11.0, 12.0], "value": [1.0, 2.0, 3.0], "line": ["x", "x", "x"]}).to_parquet(path)
    source, stores, clock = replay(tmp_path, path, loop=True)
    run_for(source, clock, 5.5)
    batch = stores.get("x").since(-1)
    assert batch.value.tolist() == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    assert np.allclose(np.diff(batch.ts), 1.0)
    assert ((batch.prob >= 0) & (batch.prob <= 1)).all()  # no defect_prob column: scored
    assert source.health().state != "finished"


def test_a_bad_row_is_named_and_nothing_is_replayed(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("ts,value,defect_prob\n1,0.5,0.1\n2,0.6,7\n")
    source, stores, clock = replay(tmp_path, path)
    with pytest.raises(ValueError, match=r"bad.csv, data row 2: defect_prob must be between 0 and 1"):
        source.step()
    assert stores.find("line-1") is None


def test_a_timestamp_value_file_replays_with_its_spacing_and_clock_steps(tmp_path):
    """A real sensor export: ``timestamp,value``, naive UTC times, 5-minute steps, an hour repeated."""
    path = tmp_path / "temperature.csv"
    path.write_text("timestamp,value\n2013-12-02 21:15:00,73.9\n2013-12-02 21:20:00,74.0\n"
                    "2013-12-02 21:25:00,74.2\n2013-12-02 21:20:00,74.1\n2013-12-02 21:30:00,74.3\n")
    source, stores, clock = replay(tmp_path, path, speed=100_000)
    started = clock.now
    run_for(source, clock, 0.1, step=0.05)
    batch = stores.get("line-1").since(-1)
    assert batch.value.tolist() == [73.9, 74.0, 74.2, 74.1, 74.3]  # file order, the step back included
    assert np.allclose((batch.ts - started) * 100_000, [0, 300, 600, 300, 900])
    assert source.health().state == "finished"


def test_a_file_without_time_replays_at_a_fixed_step(tmp_path):
    path = tmp_path / "values.csv"
    path.write_text("Value\n1.5\n2.5\n3.5\n")
    source, stores, clock = replay(tmp_path, path, speed=10)
    run_for(source, clock, 0.5, step=0.1)
    batch = stores.get("line-1").since(-1)
    assert batch.value.tolist() == [1.5, 2.5, 3.5]
    assert np.allclose(np.diff(batch.ts), 0.1)


@pytest.mark.parametrize("content, message", [
    ("time,value\n2024-01-01 00:00:00,1\nyesterday,2\n", r"t.csv, data row 2: time 'yesterday' is neither"),
    ("timestamp,reading\n1,2\n", r"t.csv: no 'value' column \(columns: timestamp, reading\)"),
    ("ts,value\n1700000000,1\n1700000001,hot\n", r"t.csv, data row 2: value 'hot' is not a number"),
    ("", r"t.csv: cannot be read as CSV"),
])
def test_a_bad_file_gets_one_line_naming_file_row_and_column(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    source, stores, clock = replay(tmp_path, path)
    with pytest.raises(ValueError, match=message):
        source.step()
    assert stores.items() == []


def test_a_month_of_five_minute_data_replays_in_seconds_at_100000x(tmp_path):
    path = tmp_path / "month.csv"
    times = pd.date_range("2014-01-01", periods=30 * 288, freq="5min")
    values = 80 + np.random.default_rng(1).normal(0, 1, len(times))
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(path, index=False)
    source, stores, clock = replay(tmp_path, path, speed=100_000)
    run_for(source, clock, 26, step=0.05)  # 30 days / 100,000 = 25.9 s
    batch = stores.get("line-1").since(-1)
    assert np.allclose(batch.value, values)
    assert source.health().state == "finished"


def test_the_lines_file_maps_a_files_own_column_names(tmp_path):
    from app.config import Config
    from app.sources import make_source

    path = tmp_path / "ofen.csv"
    path.write_text("Zeitstempel,Temperatur\n2014-01-01 00:00:00,81.5\n2014-01-01 00:05:00,82.0\n")
    lines = tmp_path / "lines.toml"
    lines.write_text('[replay.columns]\ntime = "Zeitstempel"\nvalue = "Temperatur"\n', encoding="utf-8")
    config = Config.from_env({"LINEWATCH_SOURCE": "replay", "LINEWATCH_REPLAY_FILE": str(path),
                              "LINEWATCH_LINES_FILE": str(lines), "LINEWATCH_REPLAY_SPEED": "1000"})
    stores = LineStores(1000)
    source = make_source(config, Ingestor(stores, Recorder(tmp_path, stores, Thresholds(0.5, 0.5))))
    source.clock = FakeClock()
    run_for(source, source.clock, 1, step=0.1)
    batch = stores.get("line-1").since(-1)
    assert batch.value.tolist() == [81.5, 82.0] and np.allclose(np.diff(batch.ts), 0.3)
    lines.write_text('[replay.columns]\nvalue = "Temp"\n', encoding="utf-8")
    renamed = dict(Config.from_env({"LINEWATCH_LINES_FILE": str(lines)}).replay_columns)
    with pytest.raises(ValueError, match=r"ofen.csv: no column 'Temp', which the lines file's \[replay.columns\] names"):
        ReplaySource(path, None, columns=renamed).step()
