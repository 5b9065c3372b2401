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
    ingestor = Ingestor(stores, Recorder(tmp_path, stores, Thresholds(0.5, 50)))
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
