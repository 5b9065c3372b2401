import numpy as np

from app.config import Config
from app.ingest import Ingestor
from app.points import DEFAULT_LINE, PointBatch, Thresholds, anomaly_mask
from app.recorder import Recorder
from app.sources.simulator import BASELINE, SimulatorSource
from app.store import LineStores


def test_an_anomaly_is_above_both_thresholds_value_in_its_unit():
    batch = PointBatch(np.arange(4), np.zeros(4), np.array([0.6, 0.4, 0.6, 0.51]), np.array([0.9, 0.9, 0.4, 0.51]))
    assert Thresholds(0.5, 0.5).value == 0.5
    assert anomaly_mask(batch, Thresholds(0.5, 0.5)).tolist() == [True, False, False, True]
    assert anomaly_mask(batch, Thresholds(0.5, 0.55)).tolist() == [True, False, False, False]


def simulate(tmp_path, seconds, rate=5.0, seed=3):
    stores = LineStores(100_000)  # room for every point: the recorder never needs to write
    clock = [1_000_000.0]
    source = SimulatorSource(Ingestor(stores, Recorder(tmp_path, stores, Thresholds(0.5, 0.5))), rate=rate, seed=seed, clock=lambda: clock[0])
    for _ in range(int(seconds * rate)):
        clock[0] += 1 / rate
        source.step()
    return stores.get(DEFAULT_LINE).since(-1)


def test_simulator_streams_at_its_rate_with_real_timestamps(tmp_path):
    batch = simulate(tmp_path, 60)
    assert 295 <= len(batch) <= 300
    assert np.allclose(np.diff(batch.ts), 0.2)


def test_simulator_has_noise_drift_and_defect_bursts_not_uniform_noise(tmp_path):
    batch = simulate(tmp_path, 1200)
    anomalies = anomaly_mask(batch, Thresholds(0.5, 0.5))
    assert 0.02 < anomalies.mean() < 0.2  # defects are rare ...
    starts = np.flatnonzero(np.diff(anomalies.astype(int)) == 1)
    assert len(starts) >= 10  # ... come in bursts ...
    assert anomalies.sum() / len(starts) >= 3  # ... several readings long
    assert abs(np.median(batch.value) - BASELINE) < 0.05
    assert np.median(batch.prob) < 0.05  # the model is sure of ordinary readings, not uniform noise


def test_simulated_scratch_bursts_raise_threshold_alarms_one_per_episode(tmp_path):
    stores = LineStores(100_000)
    clock = [1_000_000.0]
    ingestor = Ingestor(stores, Recorder(tmp_path, stores, Thresholds(0.5, 0.5)), detector_for=Config().detector_for)  # the product's thresholds
    source = SimulatorSource(ingestor, rate=5.0, seed=4, clock=lambda: clock[0])
    for _ in range(6000):  # 20 minutes
        clock[0] += 0.2
        source.step()
    batch = stores.get(DEFAULT_LINE).since(-1)
    alarms = stores.get(DEFAULT_LINE).alarms_between(0, len(batch))
    episodes = np.flatnonzero(np.diff(anomaly_mask(batch, Thresholds(0.5, 0.5)).astype(int)) == 1)
    assert {alarm.rule for alarm in alarms} == {"threshold"}
    assert 5 <= len(alarms) <= len(episodes)  # bursts closer than 150 readings share one alarm
    assert all(batch.prob[alarm.seq] > 0.5 and batch.value[alarm.seq] > 0.5 for alarm in alarms)
