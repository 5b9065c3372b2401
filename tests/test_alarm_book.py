"""The alarm book (app/alarm_book.py): the lifecycle applied atomically over a ledger, the same over
every ledger (memory, SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

import threading

import pytest

from app.alarm_book import AlarmBook, LedgerUnavailable, MemoryLedger, UnknownAlarm
from app.alarm_clock import AlarmClock
from app.alarm_ledger import PostgresLedger, SqliteLedger
from app.history.backends import PostgresBackend
from app.store.redis.alarm_ledger import RedisLedger
from app.store import StoreUnavailable
from app.store.redis.link import RedisLink
from tests.helpers import postgres
from tests.helpers.processes import free_port
from tests.helpers.waiting import wait_until
from app.alarm_lifecycle import AlarmDesign, ImpossibleTransition
from app.alarms import AlarmDraft
from app.config import Config
from app.ingest.alarm_mirror import AlarmMirror
from app.policy import NotAnOperator, alarm_actor
from tests.helpers.alarms import Clock, raised


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
def make_ledger(request, tmp_path):
    """A factory of ledgers of one kind; those it makes share one storage (as processes would), each
    with its own connections."""
    if request.param == "memory":
        ledger = MemoryLedger()
        yield lambda: ledger
    elif request.param in ("sqlite", "postgresql"):
        made = []
        new = history_ledgers(request, tmp_path, request.param)
        yield lambda: made.append(new()) or made[-1]
        for ledger in made:
            ledger.close()
    else:
        links = []
        url = request.getfixturevalue("redis_server").url
        RedisLink.from_url(url).client.flushdb()
        yield lambda: links.append(RedisLink.from_url(url)) or RedisLedger(links[-1])
        for link in links:
            link.client.close()


def history_ledgers(request, tmp_path, kind: str):
    """A factory of ledgers over the test's SQLite file, or over the module's PostgreSQL database emptied."""
    if kind == "sqlite":
        return lambda: SqliteLedger(tmp_path / "linewatch.sqlite3")
    url = postgres.url_of(request.getfixturevalue("pg_database"))
    postgres.empty(url)
    return lambda: PostgresLedger(PostgresBackend(url))


DESIGNS = {("oven", "we-1"): AlarmDesign(priority=1, realarm_minutes=5)}


def design(line, rule):
    return DESIGNS.get((line, rule), AlarmDesign())


@pytest.fixture
def book(make_ledger, clock):
    return AlarmBook(make_ledger(), design, clock=clock)


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


def race(*actions) -> list:
    """Run the actions at once in threads; what each returned or raised."""
    barrier = threading.Barrier(len(actions))
    results = [None] * len(actions)

    def run(i):
        barrier.wait()
        try:
            results[i] = actions[i]()
        except Exception as exc:  # noqa: BLE001 - the race's outcome, checked by the test
            results[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_books_in_several_processes_open_one_alarm_and_never_lose_an_acknowledgement(make_ledger, clock):
    """Five books over one storage (the 4 web workers and the ingest worker), each with its own connection."""
    books = [AlarmBook(make_ledger(), design, clock=clock) for _ in range(5)]
    race(*(lambda b=b, seq=seq: b.raised([raised(seq=seq)]) for seq, b in enumerate(books)))
    [alarm] = books[0].query()
    outcomes = race(*(lambda b=b, user=user: b.acknowledge(alarm.id, user) for b, user in zip(books, "abcde")))
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, ImpossibleTransition) for o in outcomes if isinstance(o, Exception))
    for round_ in range(10):  # raised, returned, then acknowledged while the condition comes back
        ts = 1000.0 + 10 * round_
        books[0].returned("oven", "score", ts)
        books[0].raised([raised(ts=ts + 1, seq=100 + 2 * round_)])
        books[0].returned("oven", "score", ts + 2)
        [waiting] = books[0].query(state="unacknowledged")
        race(lambda: books[1].acknowledge(waiting.id, "alice"),
             lambda: books[2].raised([raised(ts=ts + 3, seq=101 + 2 * round_)]))
        for record in books[3].query():
            journal = books[4].get(record.id)[1]
            assert journal[-1].state == record.state  # no writer overwrote another's step
            acks = [e.user for e in journal if e.action == "acknowledge"]
            assert not acks or record.acknowledged_by == acks[-1]
        [active] = books[3].query(state="open")
        assert active.active and (active.acknowledged or active.id != waiting.id)
        if not active.acknowledged:
            books[0].acknowledge(active.id, "bob")


def test_a_new_book_over_the_same_storage_sees_records_open_alarms_and_journals(make_ledger, clock):
    first = AlarmBook(make_ledger(), design, clock=clock)
    [closed] = first.raised([raised(seq=1)])
    first.acknowledge(closed.record.id, "alice", "seen")
    first.returned("oven", "score", 150.0)
    [shelved] = first.raised([raised(ts=200.0, seq=2)])
    first.shelve(shelved.record.id, "alice", "maintenance", 10)
    later = AlarmBook(make_ledger(), design, clock=clock)  # after a restart
    assert [(r.id, r.state) for r in later.query()] == [("oven/1/score", "normal"), ("oven/2/score", "shelved")]
    assert [r.id for r in later.ledger.open_records()] == ["oven/2/score"]
    assert [(e.action, e.user, e.comment) for e in later.get("oven/1/score")[1]] == [
        ("raise", "", "value 91.5 is anomalous (score 0.8)"), ("acknowledge", "alice", "seen"), ("return", "", "")]
    clock.now += 10 * 60
    assert [s.entry.action for s in later.sweep()] == ["shelve-expired"]
    later.returned("oven", "score", 250.0)
    [again] = later.raised([raised(ts=260.0, seq=3)])  # the open alarm, re-raised
    assert (again.record.id, again.record.count) == ("oven/2/score", 2)


class RefusingLedger(MemoryLedger):
    """A ledger whose storage refuses while ``down``."""

    down = False

    def change_open(self, line, rule, change):
        if self.down:
            raise LedgerUnavailable("alarm history unavailable: disk I/O error")
        return super().change_open(line, rule, change)


def test_raises_and_returns_the_ledger_refuses_wait_in_order_and_are_booked_once_it_stores_again(clock, caplog):
    ledger = RefusingLedger()
    book = AlarmBook(ledger, design, clock=clock)
    ledger.down = True
    assert book.raised([raised(seq=1), raised(rule="we-1", seq=2)]) == [] and book.waiting == 2
    assert book.returned("oven", "we-1", 150.0) == [] and book.waiting == 3
    assert book.raised([raised(rule="we-1", ts=160.0, seq=3)]) == [] and book.waiting == 4
    assert book.sweep() == [] and "wait in memory" in caplog.text
    ledger.down = False
    assert [(s.entry.action, s.record.id) for s in book.sweep()] == [
        ("raise", "oven/1/score"), ("raise", "oven/2/we-1"), ("return", "oven/2/we-1"), ("raise", "oven/2/we-1")]
    assert book.waiting == 0 and [(r.id, r.count) for r in book.query()] == [("oven/1/score", 1), ("oven/2/we-1", 2)]


def test_the_alarm_clock_sweeps_in_its_own_thread_until_stopped(clock):
    book = AlarmBook(MemoryLedger(), design, clock=clock)
    [step] = book.raised([raised()])
    book.shelve(step.record.id, "alice", "sensor swap", 1)
    alarm_clock = AlarmClock(book, interval=0.01)
    alarm_clock.start()
    try:
        clock.now += 60
        wait_until(lambda: book.get(step.record.id)[0].state == "unacknowledged", 5, "the shelf to expire")
    finally:
        alarm_clock.stop()
    assert "linewatch-alarm-clock" not in {thread.name for thread in threading.enumerate()}


def test_retention_forgets_old_alarms_back_to_normal_with_their_journals_and_keeps_open_ones(book, clock):
    [closed] = book.raised([raised(ts=100.0, seq=1)])
    book.acknowledge(closed.record.id, "alice")
    [back_to_normal] = book.returned("oven", "score", 150.0)
    [still_open] = book.raised([raised(rule="we-1", ts=100.0, seq=2)])
    [recent] = book.raised([raised(line="press", ts=900.0, seq=3)])
    book.acknowledge(recent.record.id, "alice")
    book.returned("press", "score", 950.0)
    copy = MemoryLedger()  # e.g. the ingest worker's SQLite copy of the Redis book
    copy._store(back_to_normal)
    alarm_clock = AlarmClock(book, retention_s=clock.now - 500.0, copies=(copy,))  # cut-off: reading time 500
    assert alarm_clock.forget() == 1 and alarm_clock.forget() == 0
    assert [r.id for r in book.query()] == [still_open.record.id, recent.record.id]
    assert book.ledger.journal(closed.record.id) == [] and copy.record(closed.record.id) is None
    with pytest.raises(UnknownAlarm):
        book.get(closed.record.id)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_ingest_worker_copies_the_redis_book_into_its_history_and_back_when_redis_lost_it(
        redis_server, tmp_path, clock, request, kind):
    link = RedisLink.from_url(redis_server.url)
    link.client.flushdb()
    book = AlarmBook(RedisLedger(link), design, clock=clock)
    history = history_ledgers(request, tmp_path, kind)()
    heard = []
    mirror = AlarmMirror(book.ledger, history, heard.append)  # the worker's webhooks listen here
    try:
        [step] = book.raised([raised(seq=1)])
        book.acknowledge(step.record.id, "alice", "seen")
        assert (mirror.copy(), mirror.copy()) == (2, 0)  # each entry once
        assert [(s.entry.action, s.record.acknowledged_by) for s in heard] == [("raise", "alice"),
                                                                             ("acknowledge", "alice")]
        on_disk = AlarmBook(history)
        assert on_disk.get("oven/1/score") == book.get("oven/1/score")
        book.returned("oven", "score", 150.0)  # closed
        [still_open] = book.raised([raised(rule="we-1", seq=5)])
        mirror.copy()
        before = [book.get(r.id) for r in book.query()]
        link.client.flushdb()  # Redis restarted without its data: the worker fills the book again
        assert (mirror.restore(), mirror.restore()) == (2, 0)
        assert [book.get(r.id) for r in book.query()] == before
        assert [r.id for r in book.ledger.open_records()] == ["oven/5/we-1"]
        book.acknowledge(still_open.record.id, "bob")
        assert mirror.copy() == 1  # the changes since, not the refilled ones again
        assert [e.action for e in on_disk.get("oven/5/we-1")[1]] == ["raise", "acknowledge"]
    finally:
        history.close()
        link.client.close()


def test_a_redis_ledger_without_redis_is_unavailable_as_the_ledger_and_as_the_store(tmp_path, clock):
    dead = RedisLink.from_url(f"redis://127.0.0.1:{free_port()}/0")
    book = AlarmBook(RedisLedger(dead), design, clock=clock)
    assert book.raised([raised()]) == [] and book.waiting == 1  # the raise waits
    for call in (book.summary, lambda: book.acknowledge("oven/1/score", "alice")):
        with pytest.raises(LedgerUnavailable, match="store unavailable: Redis at 127.0.0.1") as refused:
            call()
        assert isinstance(refused.value, StoreUnavailable)  # the page's tick says "store unavailable"


def test_a_postgresql_ledger_without_its_server_is_unavailable_and_says_why(clock):
    ledger = PostgresLedger(PostgresBackend(f"postgresql://postgres@127.0.0.1:{free_port()}/lw"))
    book = AlarmBook(ledger, design, clock=clock)
    try:
        assert book.raised([raised()]) == [] and book.waiting == 1  # the raise waits
        with pytest.raises(LedgerUnavailable, match="^alarm history unavailable: "):
            book.acknowledge("oven/1/score", "alice")
        assert ledger.problem  # the alarms' readiness says why
    finally:
        ledger.close()


class CountingLedger(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def open_records(self):
        self.reads += 1
        return super().open_records()


def test_every_viewers_tick_shares_one_read_of_the_open_alarms_and_a_change_shows_at_once(clock):
    book = AlarmBook(CountingLedger(), design, clock=clock)
    assert [book.summary()["newest"] for _ in range(50)] == [None] * 50 and book.ledger.reads == 1
    [step] = book.raised([raised()])
    assert book.summary()["newest"]["id"] == step.record.id and book.ledger.reads == 2
    assert [r.id for r in book.open_alarms()] == [step.record.id] and book.ledger.reads == 2  # the overview's too


class SlowLedger(CountingLedger):
    """A ledger whose read of the open records takes a while, as Redis's HVALS+MGET under load."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()
        self.release = threading.Event()

    def open_records(self):
        self.reading.set()
        self.release.wait(5)
        return super().open_records()


def test_ticks_that_ask_at_once_wait_for_one_read_and_a_commit_during_it_is_not_hidden(clock):
    book = AlarmBook(SlowLedger(), design, clock=clock)
    ticks = [threading.Thread(target=book.summary) for _ in range(8)]
    for tick in ticks:
        tick.start()
    assert book.ledger.reading.wait(5)
    [step] = book.raised([raised()])  # committed while that read is under way
    book.ledger.release.set()
    for tick in ticks:
        tick.join(5)
    assert book.ledger.reads == 1  # eight ticks at once, one read
    assert book.summary()["newest"]["id"] == step.record.id  # not the read begun before the raise
    assert book.ledger.reads == 2
