"""The alarm book (app/alarm_book.py): the lifecycle applied atomically over a ledger."""

from __future__ import annotations

import threading

import pytest

from app.alarm_book import AlarmBook, MemoryLedger, UnknownAlarm
from app.alarm_lifecycle import AlarmDesign, ImpossibleTransition
from app.alarms import AlarmDraft
from app.config import Config
from app.policy import NotAnOperator, alarm_actor


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def raised(line="oven", rule="score", ts=100.0, seq=1, severity="warning"):
    return AlarmDraft(0, line, ts, rule, severity, 91.5, "value 91.5 is anomalous").raised(seq)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def book(clock):
    designs = {("oven", "we-1"): AlarmDesign(priority=1, realarm_minutes=5)}
    return AlarmBook(MemoryLedger(), lambda line, rule: designs.get((line, rule), AlarmDesign()), clock=clock)


def test_concurrent_raises_of_one_condition_make_one_alarm(book):
    barrier = threading.Barrier(8)

    def post(seq):
        barrier.wait()
        book.raised([raised(seq=seq)])
    threads = [threading.Thread(target=post, args=(seq,)) for seq in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alarms = book.query()
    assert len(alarms) == 1 and alarms[0].count == 1
    assert [e.action for e in book.get(alarms[0].id)[1]] == ["raise"]


def test_operators_act_by_id_and_the_journal_keeps_each_step(book, clock):
    [step] = book.raised([raised()])
    clock.now += 30
    book.acknowledge(step.record.id, "alice", "on it")
    with pytest.raises(ImpossibleTransition):
        book.acknowledge(step.record.id, "bob")
    with pytest.raises(UnknownAlarm):
        book.shelve("oven/999/score", "bob", "why", 10)
    book.returned("oven", "score", 160.0)
    record, journal = book.get(step.record.id)
    assert record.state == "normal" and not book.query(state="open")
    assert [(e.action, e.user, e.state) for e in journal] == [
        ("raise", "", "unacknowledged"), ("acknowledge", "alice", "acknowledged"), ("return", "", "normal")]
    assert book.figures(0, 600).ack_median_s == 30.0


def test_the_clock_expires_shelves_and_realarms_and_listeners_hear_every_step(book, clock):
    heard = []
    book.listen(heard.append)
    [shelved] = book.raised([raised()])
    [loud] = book.raised([raised(rule="we-1", severity="critical")])
    book.shelve(shelved.record.id, "alice", "sensor swap", 10)
    with pytest.raises(ValueError):
        book.shelve(loud.record.id, "alice", "too long", 8 * 60 + 1)
    assert book.summary()["unacknowledged"] == {"1": 1, "2": 0, "3": 0, "4": 0}
    clock.now += 5 * 60
    assert [s.entry.action for s in book.sweep()] == ["re-alarm"]
    clock.now += 5 * 60
    assert sorted(s.entry.action for s in book.sweep()) == ["re-alarm", "shelve-expired"]
    assert [s.entry.action for s in heard[:4]] == ["raise", "raise", "shelve", "re-alarm"] and len(heard) == 6
    summary = book.summary()
    assert summary["unacknowledged"]["3"] == 1 and summary["newest"]["id"] == shelved.record.id


def test_queries_filter_by_line_state_and_time(book):
    book.raised([raised(ts=10.0, seq=1), raised(line="press", ts=20.0, seq=2)])
    [acked] = book.raised([raised(line="press", rule="we-1", ts=30.0, seq=3)])
    book.acknowledge(acked.record.id, "alice")
    assert [r.line for r in book.query(line="press")] == ["press", "press"]
    assert [r.id for r in book.query(state="unacknowledged")] == ["oven/1/score", "press/2/score"]
    assert [r.id for r in book.query(since_ts=15, until_ts=25)] == ["press/2/score"]
    assert [r.id for r in book.query(limit=1)] == ["press/3/we-1"]


def test_who_may_act_on_alarms():
    assert alarm_actor(Config(), {}) == "anonymous"  # no auth: everyone acts, as "anonymous"
    signed_in = Config(auth="header", alarm_operators=("alice",))
    assert alarm_actor(signed_in, {"linewatch.user": "alice"}) == "alice"
    for environ in ({"linewatch.user": "bob"}, {"linewatch.user": None}):
        with pytest.raises(NotAnOperator):
            alarm_actor(signed_in, environ)
    assert alarm_actor(Config(auth="header"), {"linewatch.user": "bob"}) == "bob"
