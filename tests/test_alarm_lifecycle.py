"""The ISA-18.2 alarm lifecycle (app/alarm_lifecycle.py) and the EEMUA 191 figures (app/alarm_figures.py)."""

from __future__ import annotations

import pytest

from app.alarm_figures import alarm_figures
from app.alarm_lifecycle import (AlarmDesign, ImpossibleTransition, State, acknowledge, due, raise_alarm,
                                 return_to_normal, shelve, unshelve)
from app.alarms import AlarmDraft

DESIGN = AlarmDesign()


def raised(ts: float = 100.0, seq: int = 7, rule: str = "score", severity: str = "warning"):
    return AlarmDraft(0, "oven", ts, rule, severity, 91.5, "value 91.5 is anomalous").raised(seq)


def opened(design: AlarmDesign = DESIGN, now: float = 1000.0):
    return raise_alarm(None, raised(), design, now).record


# (the steps that lead there, the state after them); each step is (name, kwargs)
def apply(record, steps):
    for name, kwargs in steps:
        if name == "raise":
            record = raise_alarm(record, raised(**kwargs), DESIGN, 1000.0).record
        elif name == "return":
            record = return_to_normal(record, 200.0, 1001.0).record
        elif name == "ack":
            record = acknowledge(record, "alice", "seen", 1002.0).record
        elif name == "shelve":
            record = shelve(record, "alice", "sensor swap", 30, 1003.0).record
        elif name == "unshelve":
            record = unshelve(record, "alice", 1004.0).record
    return record


TRANSITIONS = [
    ([], State.UNACKNOWLEDGED),
    ([("ack", {})], State.ACKNOWLEDGED),
    ([("return", {})], State.RETURNED_UNACKNOWLEDGED),
    ([("ack", {}), ("return", {})], State.NORMAL),
    ([("return", {}), ("ack", {})], State.NORMAL),
    ([("return", {}), ("raise", {"ts": 300.0})], State.UNACKNOWLEDGED),
    ([("ack", {}), ("shelve", {})], State.SHELVED),
    ([("shelve", {}), ("unshelve", {})], State.UNACKNOWLEDGED),  # still active: announced again
    ([("shelve", {}), ("return", {}), ("unshelve", {})], State.NORMAL),
    ([("return", {}), ("shelve", {}), ("raise", {"ts": 300.0})], State.SHELVED),  # hidden while shelved
]


@pytest.mark.parametrize("steps, state", TRANSITIONS, ids=[" ".join(s for s, _ in t) or "raise" for t, _ in TRANSITIONS])
def test_each_transition_leads_to_its_state(steps, state):
    assert apply(opened(), steps).state is state


IMPOSSIBLE = [
    ([("ack", {})], "ack"),  # acknowledging an acknowledged alarm
    ([("ack", {}), ("return", {})], "shelve"),  # shelving an alarm back to normal
    ([], "unshelve"),  # unshelving an alarm that is not shelved
    ([("shelve", {})], "ack"),
]


@pytest.mark.parametrize("steps, action", IMPOSSIBLE)
def test_impossible_transitions_are_refused_with_the_state_named(steps, action):
    record = apply(opened(), steps)
    with pytest.raises(ImpossibleTransition, match=record.state.value):
        apply(record, [(action, {})])


def test_the_journal_says_who_did_what_and_the_state_after():
    record = opened()
    step = acknowledge(record, "alice", "checked the oven", 1010.0)
    assert step.entry == ("oven/7/score", 1010.0, "acknowledge", "alice", "checked the oven", "acknowledged", None)
    assert step.record.acknowledged_by == "alice" and step.record.acknowledged_at == 1010.0
    first = raise_alarm(None, raised(), DESIGN, 1000.0).entry
    assert (first.action, first.state, first.reading_ts, first.user) == ("raise", "unacknowledged", 100.0, "")


def test_one_open_alarm_per_line_and_rule_counts_its_raises_and_marks_chattering():
    record = opened()
    assert raise_alarm(record, raised(ts=101.0, seq=8), DESIGN, 1000.0) is None  # already active: not twice
    for ts in (120.0, 140.0):
        record = return_to_normal(record, ts - 1, 1000.0).record
        record = raise_alarm(record, raised(ts=ts, seq=int(ts)), DESIGN, 1000.0).record
    assert record.id == "oven/7/score" and record.count == 3 and record.chattering
    slow = opened()
    for ts in (200.0, 300.0):  # three raises, but not within a minute
        slow = raise_alarm(return_to_normal(slow, ts - 1, 0).record, raised(ts=ts), DESIGN, 0).record
    assert slow.count == 3 and not slow.chattering


def test_a_raise_after_the_alarm_went_back_to_normal_opens_a_new_one():
    closed = apply(opened(), [("ack", {}), ("return", {})])
    assert not closed.open
    again = raise_alarm(closed, raised(ts=500.0, seq=40), DESIGN, 2000.0).record
    assert again.id == "oven/40/score" and again.count == 1 and again.state is State.UNACKNOWLEDGED


def test_priority_comes_from_the_design_or_else_the_severity():
    assert opened().priority == 3
    assert raise_alarm(None, raised(severity="critical"), DESIGN, 0).record.priority == 2
    assert opened(AlarmDesign(priority=1)).priority == 1


@pytest.mark.parametrize("mode", ["suppressed", "out-of-service"])
def test_suppressed_and_out_of_service_alarms_are_journaled_not_announced(mode):
    step = raise_alarm(None, raised(), AlarmDesign(mode=mode), 0)
    assert step.record.state.value == mode and step.entry.state == mode
    closed = return_to_normal(step.record, 101.0, 1).record
    assert not closed.open  # nothing for an operator to acknowledge


def test_shelving_is_bounded_and_expires_by_itself():
    record = opened()
    for minutes in (0, -5, 8 * 60 + 1):
        with pytest.raises(ValueError, match="at most 480"):
            shelve(record, "alice", "why", minutes, 1000.0)
    shelved = shelve(record, "alice", "maintenance", 30, 1000.0).record
    assert due(shelved, DESIGN, 1000.0 + 30 * 60 - 1) is None
    expired = due(shelved, DESIGN, 1000.0 + 30 * 60)
    assert expired.entry.action == "shelve-expired" and expired.record.state is State.UNACKNOWLEDGED


def test_an_unacknowledged_alarm_is_announced_again_after_the_realarm_time():
    design = AlarmDesign(realarm_minutes=10)
    record = opened(design, now=1000.0)
    assert due(record, design, 1000.0 + 599) is None and due(record, DESIGN, 1e9) is None
    again = due(record, design, 1600.0)
    assert again.entry.action == "re-alarm" and again.record.announced_at == 1600.0
    assert due(again.record, design, 1601.0) is None
    assert due(acknowledge(record, "a", "", 1100.0).record, design, 5000.0) is None


def test_eemua_figures_count_announced_alarms_on_reading_time():
    records, entries = [], []
    for i, ts in enumerate([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 700]):  # 12 in the first 10 min
        step = raise_alarm(None, raised(ts=ts, seq=i, rule=f"r{i % 2}"), DESIGN, 5000.0 + ts)
        records.append(step.record)
        entries.append(step.entry)
    shelved = shelve(raise_alarm(None, raised(ts=800, seq=99, rule="x"), DESIGN, 0).record, "a", "", 5, 0)
    hidden = raise_alarm(return_to_normal(shelved.record, 801, 0).record, raised(ts=802), DESIGN, 0).entry
    entries += [acknowledge(records[0], "a", "", 5000.0 + 30).entry, hidden]
    figures = alarm_figures(entries, records, start=0, end=1200)
    assert figures.announced == 13 and figures.peak_10_min == 12
    assert figures.per_10_min == pytest.approx(6.5) and figures.flood_share == 0.5
    assert figures.bad_actors[0][:3] == ("oven", "r0", 7) and figures.bad_actors[0].share == pytest.approx(7 / 13)
    assert figures.ack_median_s == 30.0 and figures.stale == 0
    assert alarm_figures(entries, records, start=0, end=100_000).stale == 13
