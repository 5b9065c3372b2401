import numpy as np

from app.ingest import Ingestor
from app.points import DEFAULT_LINE, PointBatch, Thresholds, anomaly_mask
from app.scoring import ZScoreScorer
from app.sources.simulator import BASELINE, SimulatorSource
from app.store import LineStores


def test_scorer_is_low_on_the_baseline_and_high_on_a_raised_value():
    rng = np.random.default_rng(0)
    scorer = ZScoreScorer(initial_mean=0.4, initial_std=0.02)
    normal = scorer.score(0.4 + rng.normal(0, 0.02, 500))
    assert np.median(normal) < 0.01
    spikes = scorer.score(np.array([0.7, 0.72, 0.69]))
    assert (spikes > 0.99).all()
    assert ((normal >= 0) & (normal <= 1)).all()


def test_scorer_does_not_learn_defects_as_normal():
    scorer = ZScoreScorer(initial_mean=0.4, initial_std=0.02)
    scorer.score(np.full(200, 0.4) + np.random.default_rng(1).normal(0, 0.02, 200))
    burst = scorer.score(np.full(50, 0.7))
    assert burst[-1] > 0.99  # 50 outliers in a row did not move the baseline


def test_thresholds_map_the_value_slider_to_value_over_100():
    batch = PointBatch(np.arange(4), np.zeros(4), np.array([0.6, 0.4, 0.6, 0.51]), np.array([0.9, 0.9, 0.4, 0.51]))
    assert Thresholds(0.5, 50).value == 0.5
    assert anomaly_mask(batch, Thresholds(0.5, 50)).tolist() == [True, False, False, True]
    assert anomaly_mask(batch, Thresholds(0.5, 55)).tolist() == [True, False, False, False]


def simulate(seconds, rate=5.0, seed=3):
    stores = LineStores(100_000)
    clock = [1_000_000.0]
    source = SimulatorSource(Ingestor(stores, recorder=None), rate=rate, seed=seed, clock=lambda: clock[0])
    for _ in range(int(seconds * rate)):
        clock[0] += 1 / rate
        source.step()
    return stores.get(DEFAULT_LINE).since(-1)


def test_simulator_streams_at_its_rate_with_real_timestamps():
    batch = simulate(60)
    assert 295 <= len(batch) <= 300
    assert np.allclose(np.diff(batch.ts), 0.2)


def test_simulator_has_noise_drift_and_defect_bursts_not_uniform_noise():
    batch = simulate(1200)
    anomalies = anomaly_mask(batch, Thresholds(0.5, 50))
    assert 0.02 < anomalies.mean() < 0.2  # defects are rare ...
    starts = np.flatnonzero(np.diff(anomalies.astype(int)) == 1)
    assert len(starts) >= 10  # ... come in bursts ...
    assert anomalies.sum() / len(starts) >= 3  # ... several readings long
    assert abs(np.median(batch.value) - BASELINE) < 0.05
    assert np.median(batch.prob) < 0.05  # not uniform noise


def test_extreme_values_score_without_overflow():
    scorer = ZScoreScorer(initial_mean=0.4, initial_std=0.02)
    probs = scorer.score(np.array([-35.0, 1e12, -1e300, 0.4]))
    assert probs[0] < 1e-20 and probs[1] > 0.999 and probs[2] < 1e-20
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
