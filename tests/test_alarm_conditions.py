"""The condition side of alarms (app/detectors/alarms.py, line.py): on-delay, off-delay, deadband,
returns to normal, spec-limit rules; scripted signals, a reference state machine, batch invariance."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import Config
from app.detectors import Alarm, Delay, DetectorConfig, Hysteresis, LineDetector, Return
from app.web import create_app

T0 = 1.7e9


def reference(ts, fire, hold, on: Delay, off: Delay):
    """The specification, one reading at a time: raise once ``fire`` has lasted ``on``, return once
    ``hold`` has been false for ``off`` (readings, or seconds since the run's first reading)."""
    active, raises, returns = False, [], []
    fired_since = clear_since = None  # (position, ts) of the first reading of the current run
    for k, (t, f, h) in enumerate(zip(ts, fire, hold | fire)):
        fired_since = (fired_since or (k, t)) if f else None
        clear_since = None if h else (clear_since or (k, t))

        def lasted(since, delay):
            return since is not None and (t - since[1] >= delay.amount if delay.seconds
                                          else k - since[0] + 1 >= delay.amount)
        if not active and lasted(fired_since, on):
            active = True
            raises.append(k)
        elif active and lasted(clear_since, off):
            active = False
            returns.append(k)
    return raises, returns


def run(alarm, ts, fire, hold=None, cuts=()):
    """Raises and returns of ``alarm`` fed the series in pieces cut at ``cuts``."""
    raises, returns = [], []
    hold = fire if hold is None else hold
    for start, stop in zip((0, *cuts), (*cuts, len(ts))):
        up, down = alarm.update(ts[start:stop], fire[start:stop], hold[start:stop])
        raises += (start + up).tolist()
        returns += (start + down).tolist()
    return raises, returns


def script(text: str) -> np.ndarray:
    """'..##.#' -> where the condition fires."""
    return np.array([c == "#" for c in text])


@pytest.mark.parametrize("signal, on, off, raises, returns", [
    # positions:      0123456789012345
    ("..#.........", Delay(1), Delay(3), [2], [5]),  # the default shape: at once, back after quiet readings
    ("..###.......", Delay(3), Delay(3), [4], [7]),  # on-delay 3 readings: the third raises
    ("..##..###...", Delay(3), Delay(3), [8], [11]),  # a run of 2 is not enough
    ("..#.#.#.....", Delay(1), Delay(2), [2], [8]),  # one gap shorter than the off-delay: one episode
    ("..#..#..#...", Delay(1), Delay(2), [2, 5, 8], [4, 7, 10]),  # gaps of 2: three episodes
    ("..#.....#...", Delay(1), Delay(100), [2], []),  # never quiet long enough: still raised
    ("##..........", Delay(2), Delay(1), [1], [2]),  # off-delay 1: the first clear reading returns
])
def test_on_and_off_delays_in_readings(signal, on, off, raises, returns):
    fire = script(signal)
    ts = T0 + np.arange(len(fire))
    assert run(Alarm(on, off), ts, fire) == (raises, returns)
    assert run(Alarm(on, off), ts, fire, cuts=range(1, len(fire))) == (raises, returns)  # one reading at a time


@pytest.mark.parametrize("stamps, signal, on, off, raises, returns", [
    # readings every 10 s: "30 s" on-delay raises at the 4th firing reading (30 s after the first)
    (range(0, 120, 10), "..#####.....", Delay(30, True), Delay(20, True), [5], [9]),
    # "0 s" raises at once; the off-delay counts from the first clear reading
    (range(0, 120, 10), "..#.........", Delay(0, True), Delay(20, True), [2], [5]),
    # irregular readings: time, not counts, decides
    ((0, 1, 2, 50, 51, 52, 53, 120, 121), "#####....", Delay(50, True), Delay(60, True), [3], [7]),
    ((0, 1, 2, 50, 51, 52, 53, 120, 121), "#####....", Delay(3), Delay(60, True), [2], [7]),
])
def test_on_and_off_delays_in_seconds(stamps, signal, on, off, raises, returns):
    fire = script(signal)
    ts = T0 + np.array(stamps, dtype=float)
    assert run(Alarm(on, off), ts, fire) == (raises, returns)
    assert run(Alarm(on, off), ts, fire, cuts=range(1, len(fire))) == (raises, returns)


@pytest.mark.parametrize("values, deadband, raises, returns", [
    # limit 100, off-delay 1 reading: without a deadband a value hovering at the limit chatters
    ([99, 101, 99.5, 101, 99.5, 101, 97, 97], 0.0, [1, 3, 5], [2, 4, 6]),
    # deadband 2: held while above 98
    ([99, 101, 99.5, 101, 99.5, 101, 97, 97], 2.0, [1], [6]),
    ([99, 101, 98.1, 101, 98.0, 99, 101, 99], 2.0, [1, 6], [4]),  # 98.1 holds, 98 does not
])
def test_a_deadband_holds_a_raised_alarm_while_the_value_is_beyond_limit_minus_deadband(values, deadband, raises,
                                                                                         returns):
    value = np.array(values, dtype=float)
    ts = T0 + np.arange(len(value))
    assert run(Alarm(Delay(1), Delay(1)), ts, value > 100, value > 100 - deadband) == (raises, returns)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(1, 30)), min_size=1, max_size=200),
       st.tuples(st.integers(1, 6), st.booleans()), st.tuples(st.integers(1, 6), st.booleans()),
       st.lists(st.integers(1, 199), max_size=8))
def test_the_vectorised_alarm_is_the_reference_state_machine_however_the_stream_is_cut(steps, on, off, cuts):
    fire = np.array([f for f, _, _ in steps])
    hold = np.array([h for _, h, _ in steps])
    ts = T0 + np.cumsum([dt for _, _, dt in steps]).astype(float)
    on, off = Delay(on[0] * (10 if on[1] else 1), on[1]), Delay(off[0] * (10 if off[1] else 1), off[1])
    cuts = sorted({c for c in cuts if c < len(ts)})
    assert run(Alarm(on, off), ts, fire, hold, cuts) == reference(ts, fire, hold, on, off)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=400), st.integers(1, 40))
def test_the_default_alarm_raises_where_the_old_gap_rule_did(fires, clear_after):
    """Default behaviour unchanged: a raise at a firing reading more than clear_after after the last one."""
    fire = np.array(fires)
    idx = np.flatnonzero(fire)
    old = idx[np.diff(idx, prepend=-np.inf) > clear_after].tolist()
    assert run(Alarm(Delay(1), Delay(clear_after)), T0 + np.arange(len(fire), dtype=float), fire)[0] == old


SPEC = DetectorConfig(score_threshold=None, lsl=70.0, usl=100.0, clear_after=2,
                      alarms=(("usl", Hysteresis(on_delay=Delay(2), deadband=3.0)),
                              ("lsl", Hysteresis(off_delay=Delay(15, True)))))


def test_spec_limits_raise_and_return_with_their_delays_and_deadband():
    value = np.array([85, 101, 99, 101, 102, 98, 96, 96, 96, 85, 69, 72, 72, 72, 72, 85], dtype=float)
    ts = T0 + 10.0 * np.arange(len(value))
    out = LineDetector(SPEC).process(ts, value)
    # usl: 101 at 1 is alone (on-delay 2); 101, 102 raise at 4; 98 holds (deadband 3: above 97); 96, 96 return at 7
    # lsl: 69 raises at once; clear from 11, 15 s later (the reading at 13, 20 s later) it returns
    assert [(e.index, e.rule, e.severity) for e in out.events] == [(4, "usl", "critical"), (10, "lsl", "critical")]
    assert out.returns == [Return(7, ts[7], "usl"), Return(13, ts[13], "lsl")]
    assert "value 102 above usl 100" in out.events[0].message and "below lsl 70" in out.events[1].message


def test_the_threshold_rule_takes_a_deadband_in_the_lines_unit():
    prob = np.array([0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9])
    value = np.array([96, 94, 96, 92, 96, 91, 90], dtype=float)
    config = DetectorConfig(score_threshold=None, value_threshold=95.0, clear_after=1,
                            alarms=(("threshold", Hysteresis(deadband=5.0)),))
    out = LineDetector(config).process(T0 + np.arange(7.0), value, prob)
    # held while the probability stays high and the value above 90: 94 holds, a low probability
    # returns it, 92 does not raise it again, 96 does, 91 holds, 90 returns it
    assert [e.index for e in out.events] == [0, 4] and [r.index for r in out.returns] == [2, 6]


def test_a_score_alarm_returns_after_clear_after_quiet_readings():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, 1200)
    x[600] += 15
    out = LineDetector(DetectorConfig(clear_after=150)).process(T0 + 60 * np.arange(1200.0), x)
    [raised] = out.events
    [returned] = out.returns
    assert (raised.index, returned.rule) == (600, "score") and returned.index >= raised.index + 150


@pytest.mark.parametrize("config, message", [
    (DetectorConfig(alarms=(("we-1", Hysteresis()),)), "a rule that does not judge this line: we-1"),
    (DetectorConfig(alarms=(("score", Hysteresis(deadband=1.0)),)), "only threshold, usl, lsl have a deadband"),
])
def test_a_design_the_detector_cannot_apply_is_refused(config, message):
    with pytest.raises(ValueError, match=message):
        LineDetector(config)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=20))
def test_raises_and_returns_do_not_depend_on_how_the_stream_is_split(sizes):
    rng = np.random.default_rng(7)
    value = 85 + 20 * np.sin(np.arange(600) / 30) + rng.normal(0, 1.5, 600)  # crosses both limits, noisily
    ts = T0 + 10.0 * np.arange(600)
    config = DetectorConfig(lsl=70.0, usl=100.0, clear_after=5,
                            alarms=(("usl", Hysteresis(Delay(20, True), Delay(3), 2.0)),
                                    ("lsl", Hysteresis(Delay(2), Delay(30, True), 1.0))))
    whole = LineDetector(config).process(ts, value)
    assert {r.rule for r in whole.returns} == {"usl", "lsl"}
    det = LineDetector(config)
    cuts = np.cumsum(sizes)
    cuts = cuts[cuts < len(ts)]
    parts = [det.process(t, v) for t, v in zip(np.split(ts, cuts), np.split(value, cuts))]
    assert [e for p in parts for e in p.events] == whole.events
    assert [r for p in parts for r in p.returns] == whole.returns


REALARM = """
[lines.oven-3]
usl = 100
[lines.oven-3.alarms.usl]
realarm_minutes = 15
off_delay = 3
[lines.press-1]
usl = 10
[lines.press-1.alarms.usl]
off_delay = 1
"""


@pytest.fixture
def served(tmp_path):
    """The app with the lines file above, its book on a clock the test moves, and a poster."""
    (tmp_path / "lines.toml").write_text(REALARM, encoding="utf-8")
    app = create_app(Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path / "data"),
                                      "LINEWATCH_LINES_FILE": str(tmp_path / "lines.toml")}))
    book = app.server.extensions["linewatch"].alarm_book
    book.clock = lambda: clock[0]
    clock, start, sent = [1_000.0], time.time() - 3600, {}

    def post(line, values):
        first = sent.get(line, 0)
        sent[line] = first + len(values)
        points = [{"ts": start + first + k, "value": v, "line": line} for k, v in enumerate(values)]
        assert app.server.test_client().post("/api/v1/points", json=points).status_code == 201
    yield book, clock, post
    app.server.extensions["linewatch"].stop()


def test_a_lasting_condition_is_one_alarm_that_realarms_until_it_returns(served):
    book, clock, post = served
    post("oven-3", [90, 101, 102, 99, 101])  # the dip to 99 is shorter than the off-delay: one alarm
    [alarm] = book.query(line="oven-3")
    clock[0] += 15 * 60
    post("oven-3", [103] * 10)
    assert [s.entry.action for s in book.sweep()] == ["re-alarm"]
    assert book.get(alarm.id)[0].count == 1
    post("oven-3", [95, 95, 95])
    clock[0] += 15 * 60
    assert book.sweep() == []  # returned: nothing to announce again
    assert [e.action for e in book.get(alarm.id)[1]] == ["raise", "re-alarm", "return"]


def test_a_short_off_delay_lets_a_condition_chatter_and_the_book_counts_it_once(served):
    book, _, post = served
    post("press-1", [11, 9, 11, 9, 11, 9])  # readings 1 s apart, off-delay 1 reading
    [alarm] = book.query(line="press-1")
    assert (alarm.count, alarm.chattering, alarm.state) == (3, True, "returned-unacknowledged")
