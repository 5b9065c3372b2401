"""What the ingest worker and the web processes tell each other through Redis.

The worker marks the store ready once it is refilled, publishes the alerts it recorded, its heartbeat, the SPC control
lines of its detectors and the gaps a Redis restart left; web processes add the points they
refused.  Keys: app/store/redis/keys.py.
"""

from __future__ import annotations

import json
import time

from app.store.redis.keys import (ALERTS_KEY, GAPS_KEY, LINES_KEY, READY_KEY, REJECTED_KEY,
                                  SPC_KEY, WORKER_KEY, seq_key)
from app.store.redis.link import RedisLink

ALERTS_CAPACITY = 10_000  # alerts kept in the alerts stream (SQLite keeps all of them)
HEARTBEAT_TTL_S = 5.0  # the worker's health disappears this long after its last beat

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

def set_ready(link: RedisLink) -> None:
    """The streams hold what SQLite has: reads and appends may go on (the ingest worker's call)."""
    link.call(link.client.set, READY_KEY, f"{time.time():.3f}")


def counters(link: RedisLink) -> tuple[bool, dict[str, int]]:
    """Whether the store is refilled, and each line's last handed-out id."""
    ready, members = link.call(lambda: link.client.pipeline(transaction=False).exists(READY_KEY)
                               .smembers(LINES_KEY).execute())
    lines = sorted(member.decode() for member in members)
    if not lines:
        return bool(ready), {}
    values = link.call(link.client.mget, [seq_key(line) for line in lines])
    return bool(ready), {line: int(value) - 1 for line, value in zip(lines, values) if value is not None}


def publish_alerts(link: RedisLink, alerts: list[dict]) -> int:
    """Add recorded alerts (ascending ids) to the alerts stream; ids already there are skipped."""
    added = 0
    for start in range(0, len(alerts), 1000):
        args: list = [ALERTS_CAPACITY]
        for alert in alerts[start:start + 1000]:
            args += [int(alert["id"]), json.dumps(alert, separators=(",", ":"))]
        added += int(link.call(link.script(PUBLISH_ALERTS_LUA), keys=[ALERTS_KEY], args=args))
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


def withdraw_worker(link: RedisLink) -> None:
    """The ingest worker stops: pages say "no ingest worker" at once instead of after the TTL."""
    link.call(link.client.delete, WORKER_KEY)


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


def publish_control_lines(link: RedisLink, lines: dict[str, tuple[float, float, float]]) -> None:
    if lines:
        link.call(link.client.hset, SPC_KEY, mapping={line: ",".join(f"{v:.17g}" for v in values)
                                                     for line, values in lines.items()})


def read_control_lines(link: RedisLink, line: str) -> tuple[float, float, float] | None:
    raw = link.call(link.client.hget, SPC_KEY, line)
    return tuple(float(v) for v in raw.split(b",")) if raw else None
