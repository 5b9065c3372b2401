import threading

import numpy as np
import pytest

from app.points import DEFAULT_LINE, PointBatch
from app.store import MemoryStore, Store
from app.store.redis.control import set_ready
from app.store.redis.link import RedisLink
from app.store.redis.stream import RedisLineStores


@pytest.fixture(params=["memory", "redis"])
def make_store(request):
    """A store factory per backend: both keep the same contract (ids, cursors, capacity)."""
    if request.param == "memory":
        yield MemoryStore
        return
    link = RedisLink.from_url(request.getfixturevalue("redis_server").url)
    link.client.flushdb()
    set_ready(link)  # what the ingest worker says once Redis holds the history
    yield lambda capacity: RedisLineStores(link, capacity).get(DEFAULT_LINE)
    link.client.close()


def append_n(store: Store, n, start=0.0):
    values = np.arange(start, start + n, dtype=float)
    return store.append(values, values, values / 1e9)


def test_every_backend_satisfies_the_store_protocol(make_store):
    assert isinstance(make_store(10), Store)
    assert not isinstance(object(), Store)


def test_sequence_ids_increase_and_since_follows_the_cursor(make_store):
    store = make_store(100)
    assert append_n(store, 3).tolist() == [0, 1, 2]
    assert append_n(store, 2, 3).tolist() == [3, 4]
    batch = store.since(1)
    assert batch.seq.tolist() == [2, 3, 4]
    assert batch.value.tolist() == [2.0, 3.0, 4.0]
    assert store.since(-1, limit=2).seq.tolist() == [0, 1]
    assert len(store.since(4)) == 0


def test_wrap_around_keeps_the_newest_points_in_order(make_store):
    store = make_store(10)
    for i in range(7):
        append_n(store, 3, start=3 * i)  # 21 points through a 10-slot ring
    batch = store.since(-1)
    assert batch.seq.tolist() == list(range(11, 21))
    assert batch.ts.tolist() == [float(s) for s in range(11, 21)]
    assert store.tail(4).seq.tolist() == [17, 18, 19, 20]
    assert store.stats().count == 10 and store.stats().next_seq == 21


def test_a_batch_larger_than_the_capacity_keeps_its_tail(make_store):
    store = make_store(5)
    seqs = append_n(store, 12)
    assert seqs.tolist() == list(range(12))
    assert store.since(-1).value.tolist() == [7.0, 8.0, 9.0, 10.0, 11.0]


def test_a_reader_behind_the_buffer_resumes_at_the_oldest_point(make_store):
    store = make_store(5)
    append_n(store, 20)
    assert store.since(3).seq.tolist() == [15, 16, 17, 18, 19]


def test_load_keeps_recorded_sequence_ids_and_continues_after_them(make_store):
    store = make_store(10)
    recorded = PointBatch(np.arange(40, 44), np.arange(4.0), np.arange(4.0), np.zeros(4))
    store.load(recorded)
    assert store.since(-1).seq.tolist() == [40, 41, 42, 43]
    assert append_n(store, 1).tolist() == [44]
    assert store.stats().rate == pytest.approx(0.1)  # the restore itself is not throughput
    with pytest.raises(RuntimeError):
        store.load(recorded)


def test_mismatched_columns_are_rejected(make_store):
    with pytest.raises(ValueError):
        make_store(5).append([1.0, 2.0], [1.0], [0.1, 0.2])


def test_concurrent_writers_and_readers_see_every_point_once_in_order(make_store):
    store = make_store(100_000)
    writers, batches, batch_size = 4, 200, 25
    seen: list[int] = []
    done = threading.Event()

    def write(worker):
        for i in range(batches):
            marker = np.full(batch_size, float(worker))
            store.append(marker, marker, marker)

    def read():
        cursor = -1
        while not done.is_set() or store.stats().next_seq - 1 > cursor:
            batch = store.since(cursor, limit=37)
            if len(batch):
                assert batch.seq.tolist() == list(range(cursor + 1, cursor + 1 + len(batch)))
                seen.extend(batch.seq.tolist())
                cursor = int(batch.seq[-1])

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(10)
    total = writers * batches * batch_size
    assert seen == list(range(total))
    # each append is atomic: a batch's 25 points carry one writer's marker
    values = store.since(-1).value.reshape(-1, batch_size)
    assert (values == values[:, :1]).all()
