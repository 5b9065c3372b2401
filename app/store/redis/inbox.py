"""HTTP ingest with ``STORE=redis``: web processes hand their readings to the ingest worker.

So each line has one detector, in the worker, whichever web process a client reaches.  A
request's readings (and its Idempotency-Key, if any) go on the inbox (a list) as one JSON entry
with a token; the worker takes entries in order, ingests them durably (recording the key with
them, or answering a key it recorded before without storing anything) and leaves the answer
under ``answer:<token>``, which the web process waits for.  The inbox is bounded: a request that
finds ``INBOX_LIMIT`` others waiting is refused at once (app/backpressure.py).  A request the
worker has not taken within the wait is taken back (LREM) and refused, so nothing is stored; one
it took is waited for a second time as long.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Sequence

import numpy as np

from app import backpressure
from app.readings import Readings
from app.store.protocol import StoreUnavailable
from app.store.redis.keys import INBOX_KEY, answer_key
from app.store.redis.link import RedisLink

ANSWER_TTL_S = 60
POLL_S = 0.005
# KEYS: inbox; ARGV: entry, limit.  Pushes the entry unless ``limit`` entries wait already; returns how many waited.
ADMIT_LUA = """
local waiting = redis.call('LLEN', KEYS[1])
if waiting < tonumber(ARGV[2]) then redis.call('LPUSH', KEYS[1], ARGV[1]) end
return waiting
"""


def deliver(link: RedisLink, readings: Readings, wait_s: float, keys: Sequence[str] = ()) -> dict[str, list[int]]:
    """Hand ``readings`` (with the client's idempotency ``keys``) to the worker and wait until they are
    stored and recorded; the ids per line.  Overloaded (nothing stored) when the inbox is full."""
    token = uuid.uuid4().hex
    entry = json.dumps({"token": token, "keys": list(keys), "ts": readings.ts.tolist(),
                        "value": readings.value.tolist(),
                        "prob": [None if math.isnan(p) else p for p in readings.prob.tolist()],
                        "line": readings.line}, separators=(",", ":"))
    waiting = int(link.call(link.script(ADMIT_LUA), keys=[INBOX_KEY], args=[entry, backpressure.INBOX_LIMIT]))
    if waiting >= backpressure.INBOX_LIMIT:
        raise backpressure.inbox_full(waiting)
    answer = _await(link, token, wait_s)
    if answer is None and int(link.call(link.client.lrem, INBOX_KEY, 1, entry)):
        raise StoreUnavailable(f"the ingest worker did not take the readings within {wait_s:g} s (is "
                               "`python -m app.ingest` running?); nothing was stored")
    if answer is None:
        answer = _await(link, token, wait_s)  # taken: it is being stored
    if answer is None:
        raise StoreUnavailable(f"the ingest worker took the readings but did not confirm them within {2 * wait_s:g} s")
    if "error" in answer:
        raise StoreUnavailable(answer["error"])
    return {line: list(range(first, last + 1)) for line, (first, last) in answer["seqs"].items()}


def waiting(link: RedisLink) -> int:
    """The requests waiting for the ingest worker."""
    return int(link.call(link.client.llen, INBOX_KEY))


def _await(link: RedisLink, token: str, wait_s: float) -> dict | None:
    deadline = time.monotonic() + wait_s
    while True:
        raw = link.call(link.client.getdel, answer_key(token))
        if raw is not None:
            return json.loads(raw)
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)


def take(link: RedisLink, block_s: float, most: int) -> list[tuple[str, Readings, list[str]]]:
    """The oldest waiting requests (token, readings, idempotency keys; at most ``most``), waiting up to
    ``block_s`` for the first."""
    first = link.call(link.client.brpop, [INBOX_KEY], timeout=block_s)
    if first is None:
        return []
    entries = [first[1]] + (link.call(link.client.rpop, INBOX_KEY, most - 1) or [] if most > 1 else [])
    taken = []
    for raw in entries:
        entry = json.loads(raw)
        prob = np.array([math.nan if p is None else p for p in entry["prob"]], dtype=float)
        taken.append((entry["token"], Readings(np.array(entry["ts"], dtype=float),
                                               np.array(entry["value"], dtype=float), prob, entry["line"]),
                      entry["keys"]))
    return taken


def reply(link: RedisLink, token: str, seqs: dict[str, list[int]] | None = None, error: str | None = None) -> None:
    """The worker's answer to one request: the ids per line, or why nothing was stored."""
    answer = {"error": error} if error is not None else {"seqs": {line: [ids[0], ids[-1]]
                                                                  for line, ids in seqs.items() if ids}}
    link.call(link.client.set, answer_key(token), json.dumps(answer), ex=ANSWER_TTL_S)
