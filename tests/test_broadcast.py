"""The push broadcaster (app/broadcast.py): one serialisation per round, every subscriber's cursor
continued without a gap or a duplicate, catch-up from Last-Event-ID, and slow subscribers reset."""

import json
from types import SimpleNamespace

import numpy as np

from app.broadcast import HEARTBEAT, Channel, last_event_id, sse_event
from app.config import Config
from app.sources import SourceHealth
from app.store import MemoryStore
from callbacks.push import ChannelBuilds
from callbacks.tick import LineTicks, build_tick

WINDOW = 20


class Line:
    """A memory store, a fake clock and the channel over them, counting the ticks built."""

    def __init__(self, readings=0, queue_events=8):
        self.store = MemoryStore(10_000)
        self.now = 1_000.0
        self.built = []
        self.channel = Channel(self.build, queue_events)
        self.add(readings)

    def build(self, cursor, shared):
        self.built.append((cursor, shared))
        return build_tick(self.store, cursor, WINDOW, False, SourceHealth("running"), self.now)

    def add(self, n):
        if n:
            start = self.store.stats().next_seq
            self.store.append(np.arange(start, start + n) + self.now, np.full(n, 0.4), np.full(n, 0.1))

    def round(self, readings=0):
        self.now += 1
        self.add(readings)
        self.channel.publish()


def drain(subscriber):
    events = []
    while not subscriber.queue.empty():
        events.append(subscriber.queue.get_nowait())
    return events


def ticks(events):
    return [json.loads(e.split(b"data: ", 1)[1]) for e in events if e != HEARTBEAT]


def readings(tick):
    return list(range(tick["first"], tick["first"] + len(tick["ts"]))) if tick["ts"] else []


def test_every_subscriber_gets_the_same_bytes_serialised_once_per_round():
    line = Line(readings=50)
    subscribers = [line.channel.subscribe(None) for _ in range(3)]
    line.round()
    first = [drain(s) for s in subscribers]
    assert all(events[0] is first[0][0] for events in first)  # one bytes object: serialised once
    tick = ticks(first[0])[0]
    assert tick["reset"] and readings(tick) == list(range(30, 50)) and tick["at"] == 1_001.0
    line.round(readings=5)
    second = [drain(s) for s in subscribers]
    assert all(events[0] is second[0][0] for events in second)
    assert readings(ticks(second[0])[0]) == list(range(50, 55)) and "reset" not in ticks(second[0])[0]
    assert line.built == [(None, True), (49, True)]  # one store read per round, whatever the subscribers


def test_an_event_is_named_by_its_cursor():
    assert sse_event({"cursor": 7, "ts": []}) == b'id: 7\ndata: {"cursor":7,"ts":[]}\n\n'
    assert sse_event({"tiles": []}) == b'data: {"tiles":[]}\n\n'  # the overview has no cursor
    assert (last_event_id("41"), last_event_id(None), last_event_id(""), last_event_id("x")) == (41, None, None, None)


def test_a_subscriber_reconnecting_with_its_last_event_id_continues_without_gap_or_duplicate():
    line = Line(readings=50)
    line.channel.subscribe(None)
    line.round()
    line.round(readings=3)  # the channel is at 52
    back = line.channel.subscribe(47)  # saw up to 47, missed 48..52 and what comes next
    line.round(readings=2)
    line.round(readings=4)
    got = [seq for tick in ticks(drain(back)) for seq in readings(tick)]
    assert got == list(range(48, 59))
    assert back.cursor == line.channel.cursor == 58  # joined the shared ticks


def test_a_catch_up_between_rounds_serves_only_those_at_another_cursor():
    line = Line(readings=50)
    current = line.channel.subscribe(None)
    line.round()
    drain(current)
    back = line.channel.subscribe(45)
    line.add(2)  # 50, 51 arrive before the next round
    line.channel.deliver(*line.channel.ticks(list(line.channel.subscribers), shared=False))
    assert drain(current) == [] and line.channel.cursor == 49  # the shared ticks wait for their round
    line.round(readings=1)
    assert [seq for tick in ticks(drain(current)) for seq in readings(tick)] == [50, 51, 52]
    assert [seq for tick in ticks(drain(back)) for seq in readings(tick)] == list(range(46, 53))


def test_a_subscriber_more_than_a_window_behind_gets_a_reset():
    line = Line(readings=100)
    line.round()
    late = line.channel.subscribe(10)
    line.round()
    tick = ticks(drain(late))[0]
    assert tick["reset"] and readings(tick) == list(range(80, 100))


def test_a_reconnect_storm_from_one_cursor_costs_one_more_tick():
    line = Line(readings=50)
    line.round()
    storm = [line.channel.subscribe(45) for _ in range(200)]
    line.built.clear()
    line.round(readings=1)
    assert line.built == [(49, True), (45, False)]
    events = [drain(s) for s in storm]
    assert all(e == events[0] and e[0] is events[0][0] for e in events)
    assert readings(ticks(events[0])[0]) == [46, 47, 48, 49, 50]


def test_a_slow_subscriber_is_dropped_to_a_reset_and_holds_nobody_back():
    line = Line(readings=50, queue_events=3)
    slow, quick = line.channel.subscribe(None), line.channel.subscribe(None)
    seen = []
    for _ in range(6):
        line.round(readings=2)
        seen += ticks(drain(quick))
    assert [seq for tick in seen[1:] for seq in readings(tick)] == list(range(52, 62))  # quick missed nothing
    assert line.channel.overflows == 1 and slow.cursor == line.channel.cursor  # overflowed at round 4, reset at 5
    kept = ticks(drain(slow))
    assert kept[0]["reset"] and readings(kept[0]) == list(range(40, 60)) and readings(kept[1]) == [60, 61]


def test_heartbeats_go_to_every_subscriber_with_room():
    line = Line(readings=5, queue_events=1)
    idle, full = line.channel.subscribe(None), line.channel.subscribe(None)
    line.round()
    drain(idle)
    line.channel.heartbeat()
    assert drain(idle) == [HEARTBEAT] and len(drain(full)) == 1  # its tick, no heartbeat squeezed out


def test_an_unsubscribed_viewer_gets_nothing_more():
    line = Line(readings=5)
    gone = line.channel.subscribe(None)
    line.channel.unsubscribe(gone)
    line.round(readings=1)
    assert drain(gone) == [] and not line.channel.subscribers


def test_a_line_channel_brings_the_alarm_bar_and_lines_to_everyone_once_and_to_a_newcomer_always():
    """callbacks/push.py: the shared tick carries the rarely-changing parts only when they changed."""
    line = Line(readings=5)
    stores = SimpleNamespace(find=lambda line_id: line.store if line_id == "a" else None)
    line_ticks = LineTicks(stores, lambda: SourceHealth("running"), lambda _line: None,
                           lambda: {"unacknowledged": {"1": 0}, "newest": None}, lambda: [{"label": "a", "value": "a"}])
    builds = ChannelBuilds(SimpleNamespace(config=Config(window=WINDOW)), line_ticks, lambda line_id: line_id == "a")
    assert builds.line("b") is None  # no such line: no channel
    build = builds.line("a")
    first = build(None, True)
    assert first["reset"] and "alarm_bar" in first and first["lines"]["options"] == [{"label": "a", "value": "a"}]
    shared = build(first["cursor"], True)
    assert "alarm_bar" not in shared and "lines" not in shared  # everyone at the cursor has them already
    newcomer = build(None, False)
    assert "alarm_bar" in newcomer and "lines" in newcomer
