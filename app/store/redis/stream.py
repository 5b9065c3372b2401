"""``RedisStore``: a :class:`~app.store.Store` over one line's Redis stream, shared by every process.

The integer sequence id a browser's cursor holds maps to the stream entry id ``0-<seq+1>``:
a small Lua script takes a whole batch's ids from the line's counter (INCRBY) and adds the
entries with those explicit ids, atomically, so ids are increasing, gap-free per line and
shared by every writer and reader.  Reads run as scripts too: one round trip, and never
older than ``capacity`` points (like the ring buffer).  Until the ingest worker marks the
store ready, appends and reads answer NOTREADY (``RedisLink`` makes that "store unavailable");
``load`` is how the worker fills it.
"""

from __future__ import annotations

import threading
import uuid
from typing import Sequence

import numpy as np
import redis


from app.alarms import AlarmDraft, RaisedAlarm
from app.points import PointBatch
from app.store.protocol import RATE_SPAN_S, StoreStats, columns
from app.store.redis.keys import LINES_KEY, READY_KEY, alarms_key, batch_key, points_key, rate_key, seq_key
from app.store.redis.link import NOT_READY, RedisLink

TOKEN_TTL_S = 300  # how long an append remembers it was done (a retry within that time is a no-op)
LOAD_CHUNK = 10_000  # points per load() script call (each call blocks Redis briefly)
EMPTY_IDS = np.empty(0, np.int64)

_NOT_READY_GUARD = ("if redis.call('EXISTS', KEYS[3]) == 0 then "
                    f"return redis.error_reply('{NOT_READY} the store is not refilled yet') end\n")

# KEYS: points, seq, ready, lines, rate, batch token, alarms;
# ARGV: capacity, line, packed points, token ttl, then per alarm its offset in the batch and its JSON
APPEND_LUA = _NOT_READY_GUARD + """
local done = redis.call('GET', KEYS[6])
if done then return tonumber(done) end
local packed = ARGV[3]
local n = #packed / 24
local first = redis.call('INCRBY', KEYS[2], n) - n
for i = 1, n do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('0-%d', first + i),
             'p', string.sub(packed, 24 * i - 23, 24 * i))
end
if #ARGV > 4 then
  for i = 5, #ARGV, 2 do
    local seq = first + tonumber(ARGV[i])
    redis.call('ZADD', KEYS[7], seq, seq .. '|' .. ARGV[i + 1])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. (first + n - tonumber(ARGV[1])))
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
READ_LUA = _NOT_READY_GUARD + """
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

# KEYS: points, seq, ready, rate; ARGV: rate span (s).  Returns {next_seq, held, recent}.
STATS_LUA = _NOT_READY_GUARD + """
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
local held = redis.call('XLEN', KEYS[1])
local now = tonumber(redis.call('TIME')[1])
local recent = 0
local rates = redis.call('HGETALL', KEYS[4])
for i = 1, #rates, 2 do
  if tonumber(rates[i]) > now - tonumber(ARGV[1]) then recent = recent + tonumber(rates[i + 1]) end
end
return {nxt, held, recent}
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


def _batch(entries: list) -> PointBatch:
    """Stream entries ``[id, [b'p', packed]]`` as a batch."""
    if not entries:
        return PointBatch.empty()
    seq = np.fromiter((int(entry[0][2:]) for entry in entries), np.int64, len(entries)) - 1
    data = np.frombuffer(b"".join(entry[1][1] for entry in entries), dtype="<f8").reshape(-1, 3)
    return PointBatch(seq, data[:, 0].copy(), data[:, 1].copy(), data[:, 2].copy())


def _pack(ts: np.ndarray, value: np.ndarray, prob: np.ndarray) -> bytes:
    return np.column_stack((ts, value, prob)).astype("<f8").tobytes()


class RedisStore:
    """One line's stream: a ``Store`` shared by every process using ``link``'s Redis.

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
        self._alarms = alarms_key(line)

    def append(self, ts, value, prob, alarms: Sequence[AlarmDraft] = (), token: str | None = None) -> np.ndarray:
        """Append readings (equal-length array-likes) and their alarms, in one script; return their ids.

        ``token`` names the batch: appending a batch again with the same token (a retry after
        a timeout whose first try may have gone through) returns the same ids and adds nothing.
        """
        ts, value, prob = columns(ts, value, prob)
        if not len(ts):
            return EMPTY_IDS.copy()
        keys = [self._points, self._seq, READY_KEY, LINES_KEY, self._rate, batch_key(token or uuid.uuid4().hex),
                self._alarms]
        args = [self.capacity, self.line, _pack(ts, value, prob), TOKEN_TTL_S]
        for draft in alarms:
            args += [draft.offset, draft.to_json()]
        first = int(self.link.call_ready(self.link.script(APPEND_LUA), keys=keys, args=args))
        return np.arange(first, first + len(ts), dtype=np.int64)

    def alarms_between(self, first_seq: int, last_seq: int) -> list[RaisedAlarm]:
        """The alarms raised by the points ``first_seq..last_seq`` still held, oldest first."""
        members = self.link.call(self.link.client.zrangebyscore, self._alarms, int(first_seq), int(last_seq))
        return [RaisedAlarm.from_json(int(seq), text) for seq, _, text in (m.partition(b"|") for m in members)]

    def since(self, cursor: int, limit: int | None = None) -> PointBatch:
        """Points with a sequence id above ``cursor``, oldest first, at most ``limit``."""
        if limit is not None and limit <= 0:
            return PointBatch.empty()
        _, entries = self.link.call_ready(self.link.script(READ_LUA), keys=[self._points, self._seq, READY_KEY],
                                          args=["since", int(cursor), -1 if limit is None else int(limit),
                                                self.capacity])
        return _batch(entries)

    def tail(self, n: int) -> PointBatch:
        """The newest ``n`` points, oldest first."""
        _, entries = self.link.call_ready(self.link.script(READ_LUA), keys=[self._points, self._seq, READY_KEY],
                                          args=["tail", int(n), 0, self.capacity])
        return _batch(entries[::-1])

    def stats(self) -> StoreStats:
        nxt, held, recent = self.link.call_ready(self.link.script(STATS_LUA),
                                                 keys=[self._points, self._seq, READY_KEY, self._rate],
                                                 args=[RATE_SPAN_S])
        return StoreStats(min(int(held), self.capacity, int(nxt)), int(nxt), int(recent) / RATE_SPAN_S)

    def held(self) -> int:
        """Entries in the stream, whether or not the store is refilled (the ingest worker's check)."""
        return int(self.link.call(self.link.client.xlen, self._points))

    def load(self, batch: PointBatch, next_seq: int | None = None) -> None:
        """Fill an empty stream with recorded points, keeping their sequence ids (gaps allowed).

        The line's counter becomes at least ``next_seq`` (and past the loaded points), so
        ids that were handed out before are never given to other points.
        """
        after = max(int(batch.seq[-1]) + 1 if len(batch) else 0, next_seq or 0)
        for start in range(0, max(len(batch), 1), LOAD_CHUNK):
            part = PointBatch(*(column[start:start + LOAD_CHUNK] for column in batch))
            try:
                self.link.call(self.link.script(LOAD_LUA), keys=[self._points, self._seq, LINES_KEY],
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
