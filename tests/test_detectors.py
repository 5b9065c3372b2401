"""The line detector: self-calibrating score, alarm events, batch-split invariance, import hygiene."""

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.detectors import RULES, Alarm, Delay, DetectorConfig, LineDetector, ScorerConfig, SpcConfig, StuckWatch

PACKAGE = Path(__file__).resolve().parent.parent / "app" / "detectors"
WARMUP = ScorerConfig().warmup
SPIKE_AT, SHIFT_AT, NOISY_FROM, NOISY_TO = 1200, 1800, 2500, 2600


def injected(seed=1, n=3000, step_s=60.0):
    """Unit-variance noise with a spike, a lasting level shift and a spell of 5x noise."""
    rng = np.random.default_rng(seed)
    ts = 1.7e9 + step_s * np.arange(n)
    x = rng.normal(0.0, 1.0, n)
    x[SPIKE_AT] += 12.0
    x[SHIFT_AT:] += 6.0
    x[NOISY_FROM:NOISY_TO] *= 5.0
    return ts, x


def run(ts, x, config=DetectorConfig(), batch=100):
    det = LineDetector(config)
    outs = [det.process(ts[a:a + batch], x[a:a + batch]) for a in range(0, len(x), batch)]
    return np.concatenate([o.score for o in outs]), [e for o in outs for e in o.events]


def test_detector_modules_import_only_numpy_scipy_and_the_standard_library():
    allowed = {"numpy", "scipy", "app"} | set(sys.stdlib_module_names)
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
                if name.startswith("app"):
                    assert name.startswith(("app.detectors", "app.points")), f"{path.name} imports {name}"


@pytest.mark.parametrize("scale, offset", [(1.0, 0.0), (0.001, 5.0), (10_000.0, -30_000.0), (0.37, 1_000.0)])
def test_injected_anomalies_raise_events_at_any_scale_and_nothing_else(scale, offset):
    ts, x = injected()
    _, events = run(ts, offset + scale * x)
    raised = [e.index for e in events]
    assert len(raised) == 3, raised
    spike, shift, noisy = raised
    assert spike == SPIKE_AT
    assert SHIFT_AT <= shift <= SHIFT_AT + 10
    assert NOISY_FROM <= noisy <= NOISY_FROM + 40
    assert {e.rule for e in events} == {"score"}


def test_events_are_the_same_whatever_the_units():
    ts, x = injected(seed=5)
    reference = [(e.index, e.rule) for e in run(ts, x)[1]]
    for scale, offset in [(0.001, 0.0), (10_000.0, 7.0), (3.0, -200.0)]:
        assert [(e.index, e.rule) for e in run(ts, offset + scale * x)[1]] == reference


def test_a_lasting_level_shift_becomes_the_new_normal():
    ts, x = injected()
    score, _ = run(ts, x)
    settled = score[SHIFT_AT + 300:NOISY_FROM]
    assert settled.max() < 0.5
    assert settled.mean() < 0.2


def test_a_warm_signal_does_not_lock_the_scorer_into_anomalies():
    """The old scorer started at std 0.05 and flagged 98 % of a degrees-Celsius signal."""
    rng = np.random.default_rng(3)
    n = 5000
    ts = 1.7e9 + np.arange(n)
    celsius = 60.0 + 0.002 * np.arange(n) + rng.normal(0.0, 0.8, n)
    score, _ = run(ts, celsius)
    assert (score[WARMUP:] >= 0.5).mean() < 0.005


def test_a_start_up_transient_is_forgotten_by_the_end_of_warm_up():
    """The first readings decay from 100 sigma above the signal's level (a line starting up): by the
    time judging begins the scales describe the signal, so a 30-sigma step of 40 readings is anomalous
    for most of its length, fading only as it becomes the new normal (with the slow rate alone, the
    transient's inflated scale absorbed it within a few readings: 1 of the 40)."""
    rng = np.random.default_rng(0)
    n = 600
    x = 10.0 + rng.normal(0.0, 1.0, n) + 100.0 * np.exp(-np.arange(n) / 20.0)
    x[300:340] += 30.0
    score, events = run(1.7e9 + 300.0 * np.arange(n), x)
    assert [e.index for e in events] == [300]
    assert (score[300:340] >= 0.5).mean() > 0.8
    assert score[WARMUP:300].max() < 0.5


def warming_oven(seed, n=3000):
    """A temperature in °C at 5-minute steps (a slow random walk plus 0.5 °C of noise) whose noise
    grows threefold for 100 readings from reading 2000 (a failing fan, a worn bearing)."""
    rng = np.random.default_rng(seed)
    x = 80.0 + np.cumsum(rng.normal(0.0, 0.02, n)) + rng.normal(0.0, 0.5, n)
    x[2000:2100] += rng.normal(0.0, 1.5, 100)
    return 1.7e9 + 300.0 * np.arange(n), x


@pytest.mark.parametrize("seed", range(7))
def test_a_noise_level_that_grows_raises_one_alarm(seed):
    ts, x = warming_oven(seed)
    _, events = run(ts, x)
    assert len(events) == 1 and 2000 <= events[0].index < 2050


def test_the_noise_detector_sees_more_noise_that_has_few_large_surprises():
    """Seed 0's noisy spell has too few readings beyond the burst level for the burst detector."""
    ts, x = warming_oven(0)
    assert run(ts, x, DetectorConfig(scorer=ScorerConfig(noise_z=np.inf)))[1] == []


def test_few_false_alarms_on_pure_noise():
    rate = []
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        x = 20.0 + 0.5 * rng.normal(size=10_000)
        rate.append(len(run(1.7e9 + np.arange(10_000.0), x)[1]))
    assert np.mean(rate) <= 3  # per 10,000 readings; a 3-sigma Shewhart rule would raise ~27


@pytest.mark.parametrize("seed", range(3))
def test_a_clean_daily_pattern_raises_no_alarm_while_it_is_learnt(seed):
    """Five days of a 5-minute signal, low at night and high by day, starting at midnight: the first
    readings see only the night, yet the first mornings are not alarms (the long-run baselines start
    from what has been seen, and the excess of the first mornings is the signal's usual excess)."""
    rng = np.random.default_rng(seed)
    ts = 1.7e9 - 1.7e9 % 86400 + 300.0 * np.arange(1500)
    hour = ts % 86400 / 3600
    day = 1 / (1 + np.exp(-3 * (hour - 9))) / (1 + np.exp(3 * (hour - 18)))
    assert run(ts, 20 + 60 * day + rng.normal(0, 2, len(ts)))[1] == []


def frozen(n=1000, at=600, seed=0):
    """Half a degree of noise around 80 °C, until the sensor freezes at reading ``at``."""
    x = 80.0 + np.random.default_rng(seed).normal(0.0, 0.5, n).round(2)
    x[at:] = x[at]
    return 1.7e9 + 60.0 * np.arange(n), x


def test_a_frozen_sensor_raises_one_stuck_alarm_at_its_tenth_identical_reading():
    ts, x = frozen()
    _, events = run(ts, x)
    stuck = [e for e in events if e.rule == "stuck"]
    assert [(e.index, e.severity) for e in stuck] == [(609, "warning")]
    assert stuck[0].message == f"value {x[600]:.6g} unchanged for 10 readings"


def on_off(seed, n=6000, shift_at=None):
    """A machine idle at 0 A for 60-120 readings, then running at 12 A (noise 0.4 A) for 60-200, and
    so on; from its first start at or after reading ``shift_at`` it runs at 13.2 A. Returns the
    timestamps, the values, the switches (readings that start or stop it) and that start."""
    rng = np.random.default_rng(seed)
    lengths = np.where(np.arange(60) % 2, rng.integers(60, 200, 60), rng.integers(60, 120, 60))
    running = np.repeat(np.arange(60) % 2 == 1, lengths)[:n]
    x = np.where(running, 12.0 + rng.normal(0.0, 0.4, n), 0.0)
    switches = np.flatnonzero(running[1:] != running[:-1]) + 1
    at = n
    if shift_at is not None:
        at = int(switches[(switches >= shift_at) & running[switches]][0])
        x[at:] += np.where(running[at:], 1.2, 0.0)
    return 1.7e9 + 60.0 * np.arange(n), x, switches, at


@pytest.mark.parametrize("seed", range(3))
def test_an_on_off_machine_alarms_on_a_shift_of_its_running_level_not_at_its_starts_and_stops(seed):
    """Once idle and running have each come and gone twice (~4 switches), a start or a stop is routine."""
    ts, x, switches, _ = on_off(seed)
    raised = np.array([e.index for e in run(ts, x)[1] if e.index >= 500], dtype=int)
    assert not np.any(np.abs(raised[:, None] - switches[None, :]) <= 3)  # none at a start or a stop
    assert len(raised) <= 1  # the scorer's usual rate of false alarms (see pure noise)
    ts, x, _, at = on_off(seed, shift_at=4000)
    assert any(at <= e.index < at + 20 for e in run(ts, x)[1])


def test_a_hold_is_judged_by_the_signal_s_own_longest_hold():
    """A machine idle at 0 for 40 readings at a time: an idle spell of 170 raises at its 160th
    reading (4 x 40); after it, an idle spell of 600 is routine (< 4 x 170)."""
    rng = np.random.default_rng(1)
    running = np.concatenate([np.r_[np.zeros(40), 12.0 + rng.normal(0.0, 0.4, 60)] for _ in range(20)])
    x = np.concatenate((running, np.zeros(170), 12.0 + rng.normal(0.0, 0.4, 60), np.zeros(600), np.full(10, 12.0)))
    fires, runs = StuckWatch(4.0, 10).update(x)
    assert np.flatnonzero(fires).tolist() == list(range(2000 + 159, 2000 + 170))
    assert runs[2000 + 169] == 170 and runs[2230 + 599] == 600 and runs[-1] == 10


def test_a_hold_is_not_judged_before_the_value_first_changes_nor_in_warm_up():
    """A line that starts at a constant knows no hold to compare with; a freeze in warm-up is not judged."""
    ts, x = frozen(at=0)
    assert [e for e in run(ts, x)[1] if e.rule == "stuck"] == []
    ts, x = frozen(at=100)
    assert [e for e in run(ts, x)[1] if e.rule == "stuck"][0].index == WARMUP


def test_the_stuck_rule_can_be_turned_off():
    ts, x = frozen()
    config = DetectorConfig(stuck_ratio=None)
    assert "stuck" not in config.rules() and all(e.rule != "stuck" for e in run(ts, x, config)[1])


@given(st.lists(st.integers(1, 400), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None)
def test_stuck_watch_does_not_depend_on_how_the_stream_is_split(cuts):
    x = np.repeat(np.random.default_rng(2).integers(0, 3, 300).astype(float), 7)
    whole = StuckWatch(2.0, 5).update(x)
    watch, parts, start = StuckWatch(2.0, 5), [], 0
    for end in sorted(set(cuts)) + [len(x)]:
        parts.append(watch.update(x[start:end]))
        start = max(start, end)
    assert all(np.array_equal(np.concatenate([p[k] for p in parts]), whole[k]) for k in (0, 1))


def test_a_constant_start_is_handled():
    x = np.concatenate((np.zeros(200), np.random.default_rng(0).normal(0.0, 1.0, 800)))
    score, events = run(1.7e9 + np.arange(1000.0), x)
    assert np.isfinite(score).all()
    assert events and events[0].index == 200  # the first change after a flat start is news


def test_readings_that_are_not_finite_are_skipped():
    ts, x = injected()
    broken = x.copy()
    holes = np.arange(300, 2900, 97)
    broken[holes] = np.nan
    broken[holes[1::3]] = np.inf
    score, events = run(ts, broken)
    kept = np.setdiff1d(np.arange(len(x)), holes)
    clean_score, clean_events = run(ts[kept], x[kept])
    assert (score[holes] == 0).all()
    assert np.allclose(score[kept], clean_score, rtol=1e-9, atol=1e-12)
    assert [kept[e.index] for e in clean_events] == [e.index for e in events]


def test_the_decision_for_a_reading_uses_no_later_reading():
    ts, x = injected()
    future = x.copy()
    future[2000:] = 1e6
    head, _ = run(ts[:2000], x[:2000])
    assert np.array_equal(run(ts, future)[0][:2000], head)


SPLIT_CONFIG = DetectorConfig(spc=SpcConfig(rules=frozenset(RULES), baseline=100))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=30))
def test_output_does_not_depend_on_how_the_stream_is_split(sizes):
    ts, x = injected(n=2700)
    whole = LineDetector(SPLIT_CONFIG).process(ts, x)
    det = LineDetector(SPLIT_CONFIG)
    cuts = np.cumsum(sizes)
    parts = [det.process(t, v) for t, v in zip(np.split(ts, cuts[cuts < len(x)]), np.split(x, cuts[cuts < len(x)]))]
    assert np.allclose(np.concatenate([p.score for p in parts]), whole.score, rtol=1e-9, atol=1e-12)
    assert [e for p in parts for e in p.events] == whole.events
    assert [r for p in parts for r in p.returns] == whole.returns
    for line in ("center", "lcl", "ucl"):
        assert np.array_equal(np.concatenate([getattr(p, line) for p in parts]), getattr(whole, line), equal_nan=True)


def test_single_readings_and_empty_batches_work():
    ts, x = (a[:400] for a in injected())
    det = LineDetector()
    outs = [det.process(ts[i:i + 1], x[i:i + 1]) for i in range(400)]
    assert det.process(np.empty(0), np.empty(0)).score.shape == (0,)
    assert np.allclose(np.concatenate([o.score for o in outs]), run(ts, x)[0], rtol=1e-9, atol=1e-12)


def test_spc_rules_raise_their_own_events():
    rng = np.random.default_rng(2)
    x = rng.normal(10.0, 1.0, 400)
    x[300] = 25.0
    config = DetectorConfig(spc=SpcConfig(rules=frozenset({"we-1", "nelson-2"}), baseline=100), score_threshold=None)
    out = LineDetector(config).process(1.7e9 + np.arange(400.0), x)
    we1 = [e for e in out.events if e.rule == "we-1"]
    assert [e.index for e in we1] == [300]
    assert we1[0].severity == "critical" and "we-1" in we1[0].message
    assert np.isnan(out.center[:100]).all() and np.isfinite(out.ucl[100:]).all()


def test_score_event_carries_index_time_severity_and_message():
    ts, x = injected()
    _, events = run(ts, 5.0 + x)
    spike = events[0]
    assert spike.index == SPIKE_AT and spike.ts == ts[SPIKE_AT]
    assert spike.rule == "score" and spike.severity == "critical"
    assert f"{5.0 + x[SPIKE_AT]:.6g}" in spike.message


def test_alarm_raises_once_per_episode_and_again_after_a_quiet_spell():
    fire = np.zeros(60, dtype=bool)
    fire[[5, 7, 12, 30, 31, 45]] = True  # episode 5..12; 30 after 17 quiet readings; 45 after 13
    ts = np.arange(60.0)
    raised, returned = Alarm(Delay(1), Delay(15)).update(ts, fire)
    assert (raised.tolist(), returned.tolist()) == ([5, 30], [27])  # 45 holds the second one
    alarm = Alarm(Delay(1), Delay(15))
    assert alarm.update(ts[:20], fire[:20])[0].tolist() + (20 + alarm.update(ts[20:], fire[20:])[0]).tolist() == [5, 30]


def test_a_sustained_excursion_does_not_hide_a_later_spike():
    """The spike detector's record holds spikes only: a 40-sigma excursion of 12 readings (a burst of
    traffic, a level that comes back) is a shift, so a 12-sigma spike 190 readings later still raises
    an alarm; after a single 40-sigma reading the same spike is within the signal's routine spikes."""
    rng = np.random.default_rng(7)
    n = 800
    ts = 1.7e9 + 300.0 * np.arange(n)
    x = 10.0 + rng.normal(0.0, 1.0, n)
    x[600] += 12.0
    sustained, single = x.copy(), x.copy()
    sustained[400:412] += 40.0
    single[400] += 40.0
    assert [e.index for e in run(ts, sustained)[1]] == [400, 600]
    assert [e.index for e in run(ts, single)[1]] == [400]
