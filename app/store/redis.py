"""Redis Streams store: several web workers and hosts serve one stream per line.

``RedisStore`` has the interface of ``MemoryStore`` (``append``, ``since``, ``tail``,
``stats``, ``load``).  The integer sequence id a browser's cursor holds maps to the stream
entry id ``0-<seq+1>``: a small Lua script takes a whole batch's ids from the line's counter
(INCRBY) and adds the entries with those explicit ids, atomically, so ids are increasing,
gap-free per line and shared by every writer and reader.  Reads run as scripts too: one
round trip, and never older than ``capacity`` points (like the ring buffer).

Keys, all under ``linewatch:`` (use another Redis database for another deployment):

==================  ===========================================================================
``points:<line>``   Stream; entry ``0-<seq+1>``, field ``p``: ts, value, prob as 3 little-endian
                    doubles.  XADD MAXLEN ~ capacity.
``seq:<line>``      the line's next sequence id
``rate:<line>``     hash epoch second -> points appended (throughput over the last 10 s)
``lines``           set of line ids
``ready``           set by the ingest worker once the streams hold what SQLite has; without it
                    (Redis restarted empty) reads and appends answer "store unavailable"
``batch:<token>``   first id of an append already done: a retry after a timeout is a no-op
``alerts``          Stream of recorded alerts, entry ``0-<alert id>``, field ``a``: JSON
``recorded``        hash line -> last seq the ingest worker's recorder has on disk
``worker``          the ingest worker's heartbeat and source health (hash with a short TTL)
``rejected``        points refused by HTTP ingest, all web processes together
``gaps``            hash line -> JSON: points lost when Redis lost data not yet recorded
==================  ===========================================================================

Failures: every Redis call goes through ``RedisLink.call``, which turns connection errors,
timeouts and the "not refilled yet" state into :class:`StoreUnavailable` (one short line),
logs once when an outage starts and once when it ends, and, while Redis does not answer,
fails fast for ``RETRY_S`` between probes so requests do not pile up on timeouts.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
import uuid
from collections import deque
from typing import Callable, NamedTuple
from urllib.parse import urlsplit

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.points import PointBatch
from app.store import StoreUnavailable
from app.store.memory import RATE_SPAN_S, StoreStats

log = logging.getLogger(__name__)

PREFIX = "linewatch:"
READY_KEY = PREFIX + "ready"
LINES_KEY = PREFIX + "lines"
ALERTS_KEY = PREFIX + "alerts"
RECORDED_KEY = PREFIX + "recorded"
WORKER_KEY = PREFIX + "worker"
REJECTED_KEY = PREFIX + "rejected"
GAPS_KEY = PREFIX + "gaps"

SOCKET_TIMEOUT_S = 1.5  # a frozen Redis costs a request at most this long, once per RETRY_S per process
CONNECT_TIMEOUT_S = 1.0
RETRY_S = 1.0  # while Redis does not answer, calls fail at once except one probe per RETRY_S
TOKEN_TTL_S = 300  # how long an append remembers it was done (a retry within that time is a no-op)
LOAD_CHUNK = 10_000  # points per load() script call (each call blocks Redis briefly)
ALERTS_CAPACITY = 10_000  # alerts kept in the alerts stream (SQLite keeps all of them)
HEARTBEAT_TTL_S = 5.0  # the worker's health disappears this long after its last beat
INGEST_BUFFER_POINTS = 100_000  # the ingest worker holds at most this many points while Redis is away
POINT = struct.Struct("<3d")
EMPTY_IDS = np.empty(0, np.int64)

_NOT_READY = "NOTREADY"
_NOT_READY_LUA = ("if redis.call('EXISTS', KEYS[3]) == 0 then "
                  f"return redis.error_reply('{_NOT_READY} the store is not refilled yet') end\n")

# KEYS: points, seq, ready, lines, rate, batch token; ARGV: capacity, line, packed points, token ttl
APPEND_LUA = _NOT_READY_LUA + """
local done = redis.call('GET', KEYS[6])
if done then return tonumber(done) end
local packed = ARGV[3]
local n = #packed / 24
local first = redis.call('INCRBY', KEYS[2], n) - n
for i = 1, n do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('0-%d', first + i),
             'p', string.sub(packed, 24 * i - 23, 24 * i))
end
redis.call('SADD', KEYS[4], ARGV[2])
local now = tonumber(redis.call('TIME')[1])
if redis.call('HINCRBY', KEYS[5], now, n) == n then
  for _, second in ipairs(redis.call('HKEYS', KEYS[5])) do
    if tonumber(second) < now - 20 then redis.call('HDEL', KEYS[5], second) end
  end
end
redis.call('SET', KEYS[6], first, 'EX', ARGV[4])
return first
"""

# KEYS: points, seq, ready; ARGV: 'since' cursor limit | 'tail' n 0, capacity.  Returns {next_seq, entries}.
READ_LUA = _NOT_READY_LUA + """
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
local oldest = math.max(nxt - tonumber(ARGV[4]), 0)
if ARGV[1] == 'since' then
  local low = math.max(tonumber(ARGV[2]) + 1, oldest)
  if low >= nxt then return {nxt, {}} end
  if tonumber(ARGV[3]) >= 0 then
    return {nxt, redis.call('XRANGE', KEYS[1], string.format('0-%d', low + 1), '+', 'COUNT', ARGV[3])}
  end
  return {nxt, redis.call('XRANGE', KEYS[1], string.format('0-%d', low + 1), '+')}
end
local n = tonumber(ARGV[2])
if n <= 0 or oldest >= nxt then return {nxt, {}} end
return {nxt, redis.call('XREVRANGE', KEYS[1], '+', string.format('0-%d', oldest + 1), 'COUNT', n)}
"""

# KEYS: points, seq, ready, rate; ARGV: rate span (s).  Returns {next_seq, held, newest packed point, recent}.
STATS_LUA = _NOT_READY_LUA + """
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = redis.call('XLEN', KEYS[1])
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local now = tonumber(redis.call('TIME')[1])
local recent = 0
local rates = redis.call('HGETALL', KEYS[4])
for i = 1, #rates, 2 do
  if tonumber(rates[i]) > now - tonumber(ARGV[1]) then recent = recent + tonumber(rates[i + 1]) end
end
local point = false
if newest[1] then point = newest[1][2][2] end
return {nxt, held, point, recent}
"""

# KEYS: points, seq, lines; ARGV: capacity, line, packed points, comma-separated ids, require empty, next seq
LOAD_LUA = """
if ARGV[5] == '1' and redis.call('XLEN', KEYS[1]) > 0 then
  return redis.error_reply('NOTEMPTY load() needs an empty store')
end
local packed = ARGV[3]
local i = 0
for id in string.gmatch(ARGV[4], '[^,]+') do
  i = i + 1
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id, 'p', string.sub(packed, 24 * i - 23, 24 * i))
end
if tonumber(ARGV[6]) > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], ARGV[6]) end
redis.call('SADD', KEYS[3], ARGV[2])
return i
"""

# KEYS: alerts; ARGV: maxlen, then alert id, JSON pairs (ascending ids).  Adds the ids above the newest held.
PUBLISH_ALERTS_LUA = """
local last = 0
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if top[1] then last = tonumber(string.sub(top[1][1], 3)) end
local added = 0
for i = 2, #ARGV, 2 do
  if tonumber(ARGV[i]) > last then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. ARGV[i], 'a', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""


def points_key(line: str) -> str:
    return f"{PREFIX}points:{line}"


def seq_key(line: str) -> str:
    return f"{PREFIX}seq:{line}"


def rate_key(line: str) -> str:
    return f"{PREFIX}rate:{line}"


def describe_url(url: str) -> str:
    """Where Redis is, for messages: host:port/db or the socket path, never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path if parts.path not in ('', '/') else '/0'}"


class RedisLink:
    """A Redis client with the store's scripts, a failure state and a probe interval.

    ``call(fn, ...)`` runs one Redis operation; any way Redis cannot serve becomes
    :class:`StoreUnavailable`.  The first failure logs a warning, the first success after
    it logs the outage's length; nothing in between.
    """

    def __init__(self, client: redis.Redis, where: str) -> None:
        self.client = client
        self.where = where
        self.append_script = client.register_script(APPEND_LUA)
        self.read_script = client.register_script(READ_LUA)
        self.stats_script = client.register_script(STATS_LUA)
        self.load_script = client.register_script(LOAD_LUA)
        self.publish_alerts_script = client.register_script(PUBLISH_ALERTS_LUA)
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self._unreachable = False
        self._probe_at = 0.0

    @classmethod
    def from_url(cls, url: str, name: str = "linewatch") -> "RedisLink":
        client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                      retry=Retry(NoBackoff(), 0), health_check_interval=0, client_name=name)
        return cls(client, describe_url(url))

    @property
    def available(self) -> bool:
        """False from a failure until the next successful call."""
        return self._down_since is None

    @property
    def reason(self) -> str:
        return self._reason

    def call(self, fn: Callable, *args, **kwargs):
        """Run ``fn(*args, **kwargs)``; an outage ends with a call that also checked the store is filled."""
        return self._call(False, fn, args, kwargs)

    def call_ready(self, fn: Callable, *args, **kwargs):
        """``call`` for the store's scripts, which answer NOTREADY until the store is filled."""
        return self._call(True, fn, args, kwargs)

    def _call(self, checks_ready: bool, fn: Callable, args: tuple, kwargs: dict):
        if self._down_since is not None and self._unreachable:
            with self._lock:
                now = time.monotonic()
                if self._unreachable and now < self._probe_at:
                    raise StoreUnavailable(self._reason)
                self._probe_at = now + RETRY_S  # this caller probes; the others fail fast meanwhile
        try:
            result = fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:  # incl. BusyLoadingError
            self._fail(f"Redis at {self.where} is not answering ({type(exc).__name__})", unreachable=True)
        except redis.ResponseError as exc:
            text = str(exc)
            if text.startswith(_NOT_READY):
                self._fail("the store is not filled yet: waiting for the ingest worker (python -m app.ingest)",
                           unreachable=False)
            if isinstance(exc, redis.exceptions.ReadOnlyError) or text.startswith(("OOM", "MASTERDOWN", "BUSY")):
                self._fail(f"Redis at {self.where} refuses writes ({text.split(' ', 1)[0]})", unreachable=False)
            raise
        if self._down_since is not None:
            if checks_ready:
                self._recovered()
            else:
                self._unreachable = False  # Redis answers; whether it is filled, the store's next call says
        return result

    def _fail(self, reason: str, unreachable: bool):
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("store unavailable: %s; answering 'store unavailable' until it is back", reason)
            if unreachable:  # the next probe one interval after this failure (a timeout took a while)
                self._probe_at = time.monotonic() + RETRY_S
            self._reason, self._unreachable = reason, unreachable
        raise StoreUnavailable(reason) from None

    def _recovered(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            log.info("store available again after %.1f s (Redis at %s)", time.monotonic() - self._down_since,
                     self.where)
            self._down_since, self._reason, self._unreachable = None, "", False


def _batch(entries: list) -> PointBatch:
    """Stream entries ``[id, [b'p', packed]]`` as a batch."""
    if not entries:
        return PointBatch.empty()
    seq = np.fromiter((int(entry[0][2:]) for entry in entries), np.int64, len(entries)) - 1
    data = np.frombuffer(b"".join(entry[1][1] for entry in entries), dtype="<f8").reshape(-1, 3)
    return PointBatch(seq, data[:, 0].copy(), data[:, 1].copy(), data[:, 2].copy())


def _columns(ts, value, prob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts, value, prob = (np.asarray(column, dtype=float).ravel() for column in (ts, value, prob))
    if not len(ts) == len(value) == len(prob):
        raise ValueError("ts, value and prob must have the same length")
    return ts, value, prob


def _pack(ts: np.ndarray, value: np.ndarray, prob: np.ndarray) -> bytes:
    return np.column_stack((ts, value, prob)).astype("<f8").tobytes()


class RedisStore:
    """One line's stream; the ``MemoryStore`` interface, shared by every process using ``link``'s Redis.

    It keeps at least the newest ``capacity`` points (approximate MAXLEN trims whole stream
    nodes), and reads never return older ones, so readers see a ring of ``capacity`` points.
    """

    def __init__(self, link: RedisLink, line: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.link = link
        self.line = line
        self.capacity = capacity
        self._points, self._seq, self._rate = points_key(line), seq_key(line), rate_key(line)

    def append(self, ts, value, prob, token: str | None = None) -> np.ndarray:
        """Append readings (equal-length array-likes); return their sequence ids.

        ``token`` names the batch: appending a batch again with the same token (a retry after
        a timeout whose first try may have gone through) returns the same ids and adds nothing.
        """
        ts, value, prob = _columns(ts, value, prob)
        if not len(ts):
            return EMPTY_IDS.copy()
        token = token or uuid.uuid4().hex
        keys = [self._points, self._seq, READY_KEY, LINES_KEY, self._rate, PREFIX + "batch:" + token]
        first = self.link.call_ready(self.link.append_script, keys=keys,
                                     args=[self.capacity, self.line, _pack(ts, value, prob), TOKEN_TTL_S])
        return np.arange(int(first), int(first) + len(ts), dtype=np.int64)

    def since(self, cursor: int, limit: int | None = None) -> PointBatch:
        """Points with a sequence id above ``cursor``, oldest first, at most ``limit``."""
        if limit is not None and limit <= 0:
            return PointBatch.empty()
        _, entries = self.link.call_ready(self.link.read_script, keys=[self._points, self._seq, READY_KEY],
                                    args=["since", int(cursor), -1 if limit is None else int(limit), self.capacity])
        return _batch(entries)

    def tail(self, n: int) -> PointBatch:
        """The newest ``n`` points, oldest first."""
        _, entries = self.link.call_ready(self.link.read_script, keys=[self._points, self._seq, READY_KEY],
                                    args=["tail", int(n), 0, self.capacity])
        return _batch(entries[::-1])

    def stats(self) -> StoreStats:
        nxt, held, newest, recent = self.link.call_ready(
            self.link.stats_script, keys=[self._points, self._seq, READY_KEY, self._rate], args=[RATE_SPAN_S])
        newest_ts = POINT.unpack(newest)[0] if newest else None
        return StoreStats(min(int(held), self.capacity, int(nxt)), int(nxt), newest_ts, int(recent) / RATE_SPAN_S)

    def held(self) -> int:
        """Entries in the stream, whether or not the store is refilled (the ingest worker's check)."""
        return int(self.link.call(self.link.client.xlen, self._points))

    def load(self, batch: PointBatch, next_seq: int | None = None) -> None:
        """Fill an empty stream with recorded points, keeping their sequence ids (gaps allowed).

        The line's counter becomes at least ``next_seq`` (and past the loaded points), so
        ids that were handed out before are never given to other points.
        """
        after = max(int(batch.seq[-1]) + 1 if len(batch) else 0, next_seq or 0)
        starts = range(0, max(len(batch), 1), LOAD_CHUNK)
        for start in starts:
            part = PointBatch(*(column[start:start + LOAD_CHUNK] for column in batch))
            try:
                self.link.call(self.link.load_script, keys=[self._points, self._seq, LINES_KEY],
                               args=[self.capacity, self.line, _pack(part.ts, part.value, part.prob),
                                     ",".join(f"0-{int(s) + 1}" for s in part.seq), "1" if start == 0 else "0",
                                     after])
            except redis.ResponseError as exc:
                if str(exc).startswith("NOTEMPTY"):
                    raise RuntimeError("load() needs an empty store") from None
                raise


class RedisLineStores:
    """The ``LineStores`` interface over Redis: one stream per line, lines listed in Redis."""

    def __init__(self, link: RedisLink, capacity: int) -> None:
        self.link = link
        self.capacity = capacity
        self._stores: dict[str, RedisStore] = {}
        self._lock = threading.Lock()

    def get(self, line: str) -> RedisStore:
        store = self._stores.get(line)
        if store is None:
            with self._lock:
                store = self._stores.setdefault(line, RedisStore(self.link, line, self.capacity))
        return store

    def find(self, line: str) -> RedisStore:
        """A reader for ``line`` (an unknown line reads as empty; nothing is created or kept)."""
        return self._stores.get(line) or RedisStore(self.link, line, self.capacity)

    def lines(self) -> list[str]:
        return sorted(member.decode() for member in self.link.call(self.link.client.smembers, LINES_KEY))

    def items(self) -> list[tuple[str, RedisStore]]:
        return [(line, self.get(line)) for line in self.lines()]


class _Pending(NamedTuple):
    line: str
    token: str
    ts: np.ndarray
    value: np.ndarray
    prob: np.ndarray


class BufferedLineStores:
    """The ingest worker's way into Redis: an append never fails.

    While Redis is unavailable (or not refilled yet) batches wait here in order, each with
    its token, and go out when it is back (``drain``, called by the worker's supervisor);
    beyond ``bound`` waiting points the oldest batches are dropped, counted and logged.
    Appended batches are also kept until the recorder has them on disk (``forget_recorded``),
    so a Redis restart that lost them can be refilled from here (``unrecorded``).
    """

    def __init__(self, stores: RedisLineStores, bound: int = INGEST_BUFFER_POINTS) -> None:
        self.stores = stores
        self.link = stores.link
        self.capacity = stores.capacity
        self.bound = bound
        self.known: dict[str, int] = {}  # the highest id known to be handed out, per line
        self.dropped = 0
        self._pending: deque[_Pending] = deque()
        self._pending_points = 0
        self._sent: dict[str, deque[PointBatch]] = {}
        self._sent_points = 0
        self._outage_since: float | None = None
        self._outage_dropped = 0
        self._views: dict[str, BufferedStore] = {}
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Points waiting for Redis."""
        return self._pending_points

    def get(self, line: str) -> "BufferedStore":
        view = self._views.get(line)
        if view is None:
            view = self._views.setdefault(line, BufferedStore(self, line))
        return view

    def find(self, line: str) -> RedisStore:
        return self.stores.find(line)

    def items(self) -> list[tuple[str, RedisStore]]:
        return self.stores.items()

    def append(self, line: str, ts, value, prob) -> np.ndarray:
        """Queue a batch and send what waits if Redis is available; the batch's ids, or none yet."""
        ts, value, prob = _columns(ts, value, prob)
        if not len(ts):
            return EMPTY_IDS.copy()
        item = _Pending(line, uuid.uuid4().hex, ts, value, prob)
        with self._lock:
            self._pending.append(item)
            self._pending_points += len(ts)
            self._bound_pending()
            if not self.link.available:  # only the supervisor probes while Redis is away
                self._outage_started()
                return EMPTY_IDS.copy()
            return self._drain().get(item.token, EMPTY_IDS.copy())

    def drain(self) -> bool:
        """Send what waits; True when nothing is left waiting."""
        with self._lock:
            self._drain()
            return not self._pending

    def observe(self, line: str, last_seq: int) -> None:
        """Another writer's ids seen in Redis (the supervisor reads the counters)."""
        with self._lock:
            if last_seq > self.known.get(line, -1):
                self.known[line] = last_seq

    def unrecorded(self) -> dict[str, PointBatch]:
        """Points sent to Redis but not yet on disk, per line, oldest first."""
        with self._lock:
            return {line: PointBatch(*(np.concatenate(column) for column in zip(*batches)))
                    for line, batches in self._sent.items() if batches}

    def forget_recorded(self, cursors: dict[str, int]) -> None:
        with self._lock:
            for line, batches in self._sent.items():
                while batches and int(batches[0].seq[-1]) <= cursors.get(line, -1):
                    self._sent_points -= len(batches.popleft())

    def _drain(self) -> dict[str, np.ndarray]:
        sent: dict[str, np.ndarray] = {}
        while self._pending:
            item = self._pending[0]
            try:
                ids = self.stores.get(item.line).append(item.ts, item.value, item.prob, token=item.token)
            except StoreUnavailable:
                self._outage_started()
                return sent
            self._pending.popleft()
            self._pending_points -= len(ids)
            self._remember(item.line, PointBatch(ids, item.ts, item.value, item.prob))
            sent[item.token] = ids
        if self._outage_since is not None:
            self._outage_ended()
        return sent

    def _remember(self, line: str, batch: PointBatch) -> None:
        self._sent.setdefault(line, deque()).append(batch)
        self._sent_points += len(batch)
        self.known[line] = max(self.known.get(line, -1), int(batch.seq[-1]))
        while self._sent_points > self.bound:  # the recorder is far behind: keep the newest
            fullest = max((batches for batches in self._sent.values() if batches), key=len)
            self._sent_points -= len(fullest.popleft())

    def _bound_pending(self) -> None:
        while self._pending_points > self.bound and len(self._pending) > 1:
            lost = self._pending.popleft()
            self._pending_points -= len(lost.ts)
            if not self._outage_dropped:
                log.warning("ingest buffer full (INGEST_BUFFER_POINTS=%d): dropping the oldest points until the "
                            "store is back", self.bound)
            self._outage_dropped += len(lost.ts)
            self.dropped += len(lost.ts)

    def _outage_started(self) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning("store unavailable (%s): holding new points in memory, up to %d",
                        self.link.reason or "Redis", self.bound)

    def _outage_ended(self) -> None:
        took = time.monotonic() - self._outage_since
        if self._outage_dropped:
            log.warning("store back after %.1f s: the points held meanwhile are in; %d older ones were dropped "
                        "(buffer bound %d)", took, self._outage_dropped, self.bound)
        else:
            log.info("store back after %.1f s: every point held meanwhile is in, none dropped", took)
        self._outage_since, self._outage_dropped = None, 0


class BufferedStore:
    """One line of a :class:`BufferedLineStores`: what the simulator source appends to."""

    def __init__(self, parent: BufferedLineStores, line: str) -> None:
        self.parent = parent
        self.line = line
        self.capacity = parent.capacity

    def append(self, ts, value, prob) -> np.ndarray:
        return self.parent.append(self.line, ts, value, prob)

    def since(self, cursor: int, limit: int | None = None) -> PointBatch:
        return self.parent.stores.get(self.line).since(cursor, limit)

    def tail(self, n: int) -> PointBatch:
        return self.parent.stores.get(self.line).tail(n)

    def stats(self) -> StoreStats:
        return self.parent.stores.get(self.line).stats()


# --- state shared between the ingest worker and the web processes -----------------------

def set_ready(link: RedisLink) -> None:
    link.call(link.client.set, READY_KEY, f"{time.time():.3f}")


def is_ready(link: RedisLink) -> bool:
    return bool(link.call(link.client.exists, READY_KEY))


def counters(link: RedisLink) -> tuple[bool, dict[str, int]]:
    """Whether the store is refilled, and each line's last handed-out id."""
    ready, members = link.call(lambda: link.client.pipeline(transaction=False).exists(READY_KEY)
                               .smembers(LINES_KEY).execute())
    lines = sorted(member.decode() for member in members)
    if not lines:
        return bool(ready), {}
    values = link.call(link.client.mget, [seq_key(line) for line in lines])
    return bool(ready), {line: int(value) - 1 for line, value in zip(lines, values) if value is not None}


def publish_recorded(link: RedisLink, cursors: dict[str, int]) -> None:
    if cursors:
        link.call(link.client.hset, RECORDED_KEY, mapping={line: int(seq) for line, seq in cursors.items()})


def wait_recorded(link: RedisLink, targets: dict[str, int], timeout: float, poll: float = 0.05) -> bool:
    """Wait until the worker's recorder has each line up to its target id; False on timeout."""
    lines = sorted(targets)
    deadline = time.monotonic() + timeout
    while True:
        values = link.call(link.client.hmget, RECORDED_KEY, lines)
        if all(value is not None and int(value) >= targets[line] for line, value in zip(lines, values)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def publish_alerts(link: RedisLink, alerts: list[dict]) -> int:
    """Add recorded alerts (ascending ids) to the alerts stream; ids already there are skipped."""
    added = 0
    for start in range(0, len(alerts), 1000):
        args: list = [ALERTS_CAPACITY]
        for alert in alerts[start:start + 1000]:
            args += [int(alert["id"]), json.dumps(alert, separators=(",", ":"))]
        added += int(link.call(link.publish_alerts_script, keys=[ALERTS_KEY], args=args))
    return added


def alerts_held(link: RedisLink) -> tuple[int, int]:
    """Entries in the alerts stream and the newest alert id (0 when empty)."""
    held, top = link.call(lambda: link.client.pipeline(transaction=False).xlen(ALERTS_KEY)
                          .xrevrange(ALERTS_KEY, count=1).execute())
    return int(held), int(top[0][0][2:]) if top else 0


def read_alerts(link: RedisLink, since_ts: float | None, until_ts: float | None, limit: int) -> list[dict]:
    """Alerts in a time range from the alerts stream, newest first (as ``Recorder.alerts``)."""
    entries = link.call(link.client.xrevrange, ALERTS_KEY)
    low, high = since_ts or 0.0, until_ts if until_ts is not None else float("inf")
    alerts = [alert for alert in (json.loads(fields[b"a"]) for _, fields in entries) if low <= alert["ts"] <= high]
    alerts.sort(key=lambda alert: alert["ts"], reverse=True)
    return alerts[:limit]


def publish_worker(link: RedisLink, fields: dict) -> None:
    """The ingest worker's heartbeat: its source's health and counters, gone ``HEARTBEAT_TTL_S`` after the last."""
    link.call(lambda: link.client.pipeline(transaction=False).delete(WORKER_KEY)
              .hset(WORKER_KEY, mapping={key: str(value) for key, value in fields.items()})
              .pexpire(WORKER_KEY, int(HEARTBEAT_TTL_S * 1000)).execute())


def read_worker(link: RedisLink) -> tuple[dict[str, str], int]:
    """The worker's last heartbeat ({} when none is fresh) and the web processes' rejected points."""
    fields, rejected = link.call(lambda: link.client.pipeline(transaction=False).hgetall(WORKER_KEY)
                                 .get(REJECTED_KEY).execute())
    return {key.decode(): value.decode() for key, value in fields.items()}, int(rejected or 0)


def count_rejected(link: RedisLink, n: int) -> None:
    link.call(link.client.incrby, REJECTED_KEY, n)


def record_gap(link: RedisLink, line: str, first: int, last: int, count: int) -> None:
    link.call(link.client.hset, GAPS_KEY, line,
              json.dumps({"first": first, "last": last, "lost": count, "at": round(time.time(), 3)}))


def read_gaps(link: RedisLink) -> dict[str, dict]:
    return {line.decode(): json.loads(value) for line, value in link.call(link.client.hgetall, GAPS_KEY).items()}
