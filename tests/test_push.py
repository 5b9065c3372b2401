"""LINEWATCH_TRANSPORT=push: the ticks as Server-Sent Events from gunicorn's uvicorn worker, under a URL
prefix and the one HTTP policy; Last-Event-ID continues a stream; the server stops at once with streams open.

One server serves the module; the access-control test starts its own."""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.security import generate_password_hash

from app.stream import Streams
from layouts import ids
from tests.helpers.asgi import PREFIX, asgi_server, fetch, open_line_page, restart, wait_streaming, watch_posts
from tests.helpers.auth import basic_auth
from tests.helpers.browser import wait_for_function
from tests.helpers.page import chart_points, wait_points, wait_text
from tests.helpers.sse import EventStream
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.server

STREAM = PREFIX + "api/v1/stream"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = asgi_server(tmp_path_factory, LINEWATCH_TRANSPORT="push")
    yield process
    with EventStream(process.url + STREAM + "?line=line-1") as stream:  # an open stream does not hold the stop
        stream.next_event()
        started = time.monotonic()
        assert process.stop() == 0
    assert time.monotonic() - started < 10, "the graceful shutdown waited for the open stream"
    assert "Application shutdown complete" in process.log_path.read_text()  # the runtime stopped: its last batch recorded


def readings(tick: dict) -> list[int]:
    return list(range(tick["first"], tick["first"] + len(tick["ts"]))) if tick["ts"] else []


def test_a_line_streams_its_ticks_as_server_sent_events(server):
    with EventStream(server.url + STREAM + "?line=line-1", {"Accept-Encoding": "gzip"}) as stream:
        assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert "Content-Encoding" not in stream.headers  # gzip would hold events back
        assert stream.headers["X-Content-Type-Options"] == "nosniff"
        events = [stream.next_event() for _ in range(4)]
    first = events[0]["data"]
    assert first["reset"] and first["window"] == 1000 and "alarm_bar" in first and "lines" in first
    seen = readings(first)
    for event in events[1:]:
        tick = event["data"]
        assert "reset" not in tick and tick["at"] > first["at"]
        seen += readings(tick)
    assert seen == list(range(seen[0], seen[-1] + 1)) and len(seen) > len(readings(first))  # no gap, no duplicate
    assert all(event["id"] == str(event["data"]["cursor"]) for event in events)


def test_last_event_id_continues_the_stream_without_gap_or_duplicate(server):
    with EventStream(server.url + STREAM + "?line=line-1") as stream:
        stream.next_event()
        last = stream.next_event()["id"]
    time.sleep(1.5)  # readings arrive meanwhile
    with EventStream(server.url + STREAM + "?line=line-1", {"Last-Event-ID": last}) as stream:
        ticks = [stream.next_event()["data"] for _ in range(2)]
    assert "reset" not in ticks[0] and ticks[0]["first"] == int(last) + 1 and len(ticks[0]["ts"]) >= 10
    assert readings(ticks[0]) + readings(ticks[1]) == list(range(int(last) + 1, ticks[1]["cursor"] + 1))


def test_metrics_count_the_pushed_ticks(server):
    def pushed() -> float:
        _, _, body = fetch(server.url + PREFIX + "metrics")
        return float(re.search(rb'^linewatch_pushed_ticks_total\{page="line"\} (\S+)$', body, re.M).group(1))

    before = pushed()
    with EventStream(server.url + STREAM + "?line=line-1") as stream:
        for _ in range(3):
            stream.next_event()
    assert pushed() >= before + 3


def test_the_overview_streams_every_tile(server):
    with EventStream(server.url + STREAM + "?overview") as stream:
        tick = stream.next_event()["data"]
    assert [tile["id"] for tile in tick["tiles"]] == ["line-1"] and "alarm_bar" in tick


@pytest.mark.parametrize("query, status", [("?line=no-such-line", 404), ("", 400), ("?line=", 400)])
def test_a_stream_of_nothing_is_refused(server, query, status):
    code, headers, body = fetch(server.url + STREAM + query)
    assert code == status and headers["Content-Type"] == "application/json" and json.loads(body)["error"]


@pytest.mark.browser
def test_the_pages_take_their_ticks_from_the_stream(server, browser):
    page, console, posts = open_line_page(browser, server.url + PREFIX + "line/line-1")
    wait_for_function(page, "window.linewatchPush.mode() === 'push'")
    wait_text(page, ids.TRANSPORT, "Updates pushed")
    page.wait_for_timeout(1500)  # the Interval's last request, if one was on its way
    sent, points = len(posts), chart_points(page)
    wait_points(page, points + 9, timeout=10_000)  # 10 points/s stream in...
    assert len(posts) == sent  # ...and no callback POST meanwhile: the ticks were pushed
    assert float(page.inner_text(f"#{ids.KPI_THROUGHPUT}")) > 0
    page.goto(server.url + PREFIX)  # the overview: one more channel
    wait_for_function(page, "document.querySelectorAll('#overview-tiles a').length === 1")
    wait_for_function(page, "window.linewatchPush.mode() === 'push'")
    assert console.entries == []
    page.close()


@pytest.mark.browser
def test_a_page_whose_stream_is_refused_polls_then_takes_the_stream_again(server, browser):
    page = browser.new_page(locale="en-US")
    refused = []

    def refuse_once(route):
        if refused:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.fulfill(status=503, body="no streams here")
    page.route("**/api/v1/stream*", refuse_once)
    posts = watch_posts(page)
    page.goto(server.url + PREFIX + "line/line-1")
    wait_streaming(page)  # polled meanwhile...
    wait_until(lambda: len(posts) >= 4, 10, "tick POSTs", sleep=lambda s: page.wait_for_timeout(s * 1000))
    wait_for_function(page, "window.linewatchPush.mode() === 'push'", timeout=15_000)  # ...then retried after 5 s
    assert len(refused) == 1
    wait_text(page, ids.TRANSPORT, "Updates pushed")
    page.wait_for_timeout(1500)  # the Interval's last request, if one was on its way
    sent, points = len(posts), chart_points(page)
    wait_points(page, points + 9, timeout=10_000)
    assert len(posts) == sent
    page.close()


@pytest.mark.browser
def test_a_tab_takes_the_stream_again_after_a_server_restart_behind_a_proxy(tmp_path_factory, browser):
    """While the server is away the reverse proxy answers 502 (played by the route): the browser's own
    reconnect gives up on an error status, so it is the page that must open the stream again."""
    first = asgi_server(tmp_path_factory, LINEWATCH_TRANSPORT="push")
    again, away, bad_gateways = None, [True], []
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
        posts = watch_posts(page)
        page.goto(first.url + PREFIX + "line/line-1")
        wait_for_function(page, "window.linewatchPush.mode() === 'push'")
        page.route("**/api/v1/stream*", lambda route: (bad_gateways.append(1), route.fulfill(status=502))
                   if away[0] else route.continue_())
        again = restart(first)  # the stream ends; the browser reconnects in 2 s: 502
        wait_until(lambda: bad_gateways, 10, "a reconnect while away", sleep=lambda s: page.wait_for_timeout(s * 1000))
        away[0] = False
        wait_for_function(page, "window.linewatchPush.mode() === 'push'")
        page.wait_for_timeout(1500)  # the Interval's last request, if one was on its way
        sent, points = len(posts), chart_points(page)
        wait_points(page, points + 9, timeout=10_000)  # from the new server's stream...
        assert len(posts) == sent  # ...not from polling
        page.close()
    finally:
        (again or first).stop()


def test_viewer_access_control_covers_the_stream(tmp_path_factory):
    users = tmp_path_factory.mktemp("users") / "users.txt"
    users.write_text("op:" + generate_password_hash("s3cret") + "\n")
    server = asgi_server(tmp_path_factory, LINEWATCH_TRANSPORT="push", LINEWATCH_AUTH="basic",
                         LINEWATCH_AUTH_USERS_FILE=str(users))
    try:
        status, headers, _ = fetch(server.url + STREAM + "?line=line-1")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        with EventStream(server.url + STREAM + "?line=line-1", {"Authorization": basic_auth("op", "s3cret")}) as s:
            assert s.status == 200 and s.next_event()["data"]["reset"]
    finally:
        server.stop()


def test_a_channel_sends_heartbeats_and_ends_with_its_last_subscriber():
    """app/stream.py in-process: one producer per channel, heartbeats, the channel gone when nobody listens."""
    built = []

    def build(cursor, shared):
        built.append(shared)
        return {"at": 1.0, "cursor": 7, "ts": []}

    async def scenario():
        pushed = []
        streams = Streams("/", lambda line: build if line == "a" else None, lambda: build, 0.01,
                          lambda page, n: pushed.append((page, n)), heartbeat_s=0.05)
        left = asyncio.Event()
        sent = [[], []]

        async def receive():
            await left.wait()
            return {"type": "http.disconnect"}

        scope = {"type": "http", "method": "GET", "path": "/api/v1/stream", "query_string": b"line=a", "headers": []}
        viewers = [asyncio.create_task(streams(scope, receive, lambda m, i=i: _append(sent[i], m))) for i in range(2)]
        await asyncio.sleep(0.3)
        assert list(streams.channels) == ["line:a"] and len(streams.producers) == 1
        left.set()
        await asyncio.gather(*viewers)
        await asyncio.sleep(0.05)
        assert not streams.channels and not streams.producers
        assert {page for page, _ in pushed} == {"line"}
        return sum(n for _, n in pushed), [b"".join(m.get("body", b"") for m in messages) for messages in sent]

    with ThreadPoolExecutor(1) as thread:  # a loop of its own: Playwright's may be running in this one
        queued, bodies = thread.submit(asyncio.run, scenario()).result()
    for body in bodies:
        assert body.startswith(b"retry: 2000\n\nid: 7\ndata: ") and b": heartbeat\n\n" in body
    assert built.count(True) > 10 and built.count(False) <= 2  # one shared tick a round; a reset for the new
    assert queued >= sum(body.count(b"\ndata: ") for body in bodies) > 20  # counted for /metrics as queued


async def _append(messages, message):
    messages.append(message)
