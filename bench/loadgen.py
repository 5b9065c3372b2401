"""Synthetic viewers: N asyncio HTTP clients replaying a captured Dash tick request at a fixed period.

Run as ``python -m bench.loadgen CONFIG_JSON`` (the synthetic experiment does this, pinned with
taskset). It prints ``measure-start`` and ``measure-end`` lines at the edges of the measured
window and then one JSON line with per-request latencies (ms), errors and response body bytes.
"""
import asyncio
import copy
import json
import random
import sys
import time

import aiohttp

from .apps import APPS

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def tick_body(template, n, cursor_id, cursor):
    """The captured request with this client's interval count and cursor filled in."""
    body = copy.deepcopy(template)
    for item in body.get("inputs", []):
        if item.get("property") == "n_intervals":
            item["value"] = n
    for item in body.get("state", []):
        if cursor_id is not None and item.get("id") == cursor_id:
            item["value"] = cursor
    return body


def tick_error(spec, response):
    """The error a tick answered with HTTP 200 reports (LineWatch's error ticks, e.g. store
    unavailable: they keep the cursor and carry no points), or None."""
    component, prop = spec.tick_output.rsplit(".", 1)
    tick = response["response"][component][prop]
    return f"tick error: {tick['error']}" if isinstance(tick, dict) and tick.get("error") else None


async def viewer(url, spec, template, start, warm_end, end, period, out):
    """One viewer: its own connection and cursor; ticks from ``start`` until ``end``."""
    cursor, n, due = None, 1, start  # a new page: its first tick backfills the window
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=timeout) as session:
        while due < end:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            data = json.dumps(tick_body(template, n, spec.cursor_id, cursor))
            sent = time.monotonic()
            try:
                async with session.post(url, data=data, headers=HEADERS) as resp:
                    payload = await resp.read()
                error = None if resp.status in (200, 204) else f"HTTP {resp.status}"
                if resp.status == 200 and spec.cursor_id is not None:
                    response = json.loads(payload)
                    cursor = spec.cursor_in(response)
                    error = tick_error(spec, response)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            done = time.monotonic()
            if sent >= warm_end:
                if error:
                    out["errors"].append(error)
                else:
                    out["latency_ms"].append((done - sent) * 1000)
                    out["body_bytes"] += len(payload)
            n += 1
            due = max(due + period, done)  # never burst to catch up, like a browser interval


async def main(cfg):
    spec = APPS[cfg["app"]]
    now = time.monotonic()
    warm_end = now + 1.0 + cfg["warmup"]
    end = warm_end + cfg["duration"]
    out = {"latency_ms": [], "errors": [], "body_bytes": 0}
    tasks = [asyncio.create_task(viewer(cfg["url"], spec, cfg["body"], now + random.random(),
                                        warm_end, end, cfg["period"], out))
             for _ in range(cfg["clients"])]
    await asyncio.sleep(warm_end - time.monotonic())
    print("measure-start", flush=True)
    await asyncio.sleep(end - time.monotonic())
    print("measure-end", flush=True)
    await asyncio.gather(*tasks)
    out["client_cpu_s"] = time.process_time()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.load(open(sys.argv[1]))))
