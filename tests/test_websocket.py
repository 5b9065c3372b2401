"""LINEWATCH_TRANSPORT=websocket: Dash's FastAPI backend with WebSocket callbacks under gunicorn's
uvicorn worker, the HTTP API beside it, and HTTP polling where a proxy refuses the socket.

One server (under a URL prefix) serves the module; the access-control test starts its own."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import re
import sqlite3
import subprocess
import sys
import threading

import pytest
from websockets.exceptions import InvalidStatus  # the test extra pulls the websocket extra (uvicorn[standard])
from websockets.sync.client import connect
from werkzeug.security import generate_password_hash

from layouts import ids
from tests.helpers.asgi import CALLBACK_PATH, PREFIX, asgi_server, fetch, open_line_page, wait_streaming, watch_posts
from tests.helpers.auth import basic_auth
from tests.helpers.browser import ConsoleLog
from tests.helpers.page import chart_points, wait_points, wait_text
from tests.helpers.processes import ROOT
from tests.helpers.proxy import ReverseProxy
from tests.helpers.ticks import tick_request
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.server  # the module's gunicorn (or the test's own); browser tests say so too



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = asgi_server(tmp_path_factory, "--preload")  # imported before the fork: threads start after it
    yield process
    newest = json.loads(fetch(process.url + PREFIX + "readyz")[2])["store"]["next_seq"] - 1
    assert process.stop() == 0  # SIGTERM: the lifespan shutdown stops the runtime, the worker exits cleanly
    recorded = sqlite3.connect(process.data_dir / "linewatch.sqlite3").execute("SELECT MAX(seq) FROM points")
    assert recorded.fetchone()[0] >= newest  # ...after recording the last batch


def declared_body_status(server, path: str, length: int) -> int:
    """The status of a POST that announces ``length`` bytes, before any of them is sent."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def ticks_total(server) -> int:
    text = fetch(server.url + PREFIX + "metrics")[2].decode()
    return int(float(re.search(r'^linewatch_ticks_total\{page="line"\} (\S+)$', text, re.M).group(1)))


def transport(page) -> str:
    return page.evaluate("window.linewatchTransport ? window.linewatchTransport.mode() : 'none'")


@pytest.mark.browser
def test_ticks_travel_over_the_websocket_with_a_clean_console(server, browser):
    page, console, posts = open_line_page(browser, server.url + PREFIX + "line/line-1")
    page.wait_for_function("window.linewatchTransport.mode() === 'websocket'")
    ticks, sent, points = ticks_total(server), len(posts), chart_points(page)
    wait_points(page, points + 9, timeout=10_000)  # 10 points/s stream in
    wait_until(lambda: ticks_total(server) >= ticks + 2, 10, "two ticks answered over the socket",
               sleep=lambda s: page.wait_for_timeout(s * 1000))  # (timed for /metrics)
    assert len(posts) == sent  # no callback POST meanwhile: every tick went over the socket
    assert float(page.inner_text(f"#{ids.KPI_THROUGHPUT}")) > 0
    assert console.entries == []
    page.close()


class NoUpgradeProxy(ReverseProxy):
    """A reverse proxy that refuses WebSockets (403 to every Upgrade), as some corporate proxies do."""

    def __init__(self, *args, **kwargs) -> None:
        self.refused = 0
        super().__init__(*args, **kwargs)

    def _app(self, environ, start_response):
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            self.refused += 1
            start_response("403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", "22")])
            return [b"no websockets here :(\n"]
        return super()._app(environ, start_response)


@pytest.mark.browser
def test_behind_a_proxy_that_refuses_websockets_the_page_polls_over_http(server, browser):
    proxy = NoUpgradeProxy(PREFIX, strip=True, upstream=f"127.0.0.1:{server.port}")  # strips the prefix, too
    try:
        page = browser.new_page(locale="en-US")
        console = ConsoleLog(page)
        posts = watch_posts(page)
        page.goto(proxy.url + PREFIX + "line/line-1")
        wait_streaming(page)
        assert transport(page) == "http"
        points, sent = chart_points(page), len(posts)
        wait_points(page, points + 9, timeout=10_000)  # still streaming...
        wait_until(lambda: len(posts) >= sent + 2, 10, "two more callback POSTs",
                   sleep=lambda s: page.wait_for_timeout(s * 1000))  # ...over HTTP polling
        assert proxy.refused >= 1 and any(CALLBACK_PATH in path for path in proxy.requests)
        # the only console line is the browser's own note of the refused handshake
        assert all("WebSocket" in entry and "403" in entry for entry in console.entries), console.entries
        page.close()
    finally:
        proxy.close()


class FreezingRelay:
    """A TCP relay (in a thread) that can stop passing WebSocket traffic without closing it, like a
    proxy or a NAT that silently drops an idle long-lived connection; HTTP keeps flowing."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.frozen = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop).result(10)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _shutdown(self) -> None:
        self.server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()  # each pipe closes its writer on the way out
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        socket = {"is": False}
        await asyncio.gather(self._pipe(client_reader, server_writer, socket, True),
                             self._pipe(server_reader, client_writer, socket, False))

    async def _pipe(self, reader, writer, socket, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and b"upgrade: websocket" in data[:4096].lower():
                    socket["is"] = True
                if socket["is"] and self.frozen.is_set():
                    continue  # swallowed: the connection stays open, nothing arrives
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@pytest.mark.browser
def test_a_socket_that_goes_silent_falls_back_to_http_polling(server, browser):
    relay = FreezingRelay(server.port)
    try:
        page = browser.new_page(locale="en-US")
        console = ConsoleLog(page)
        posts = watch_posts(page)
        page.goto(relay.url + PREFIX + "line/line-1")
        wait_streaming(page)
        page.wait_for_function("window.linewatchTransport.mode() === 'websocket'")
        sent = len(posts)
        relay.frozen.set()  # from now on the socket swallows everything, both ways
        page.wait_for_function("window.linewatchTransport.mode() === 'http'", timeout=20_000)  # the watchdog
        points = chart_points(page)
        wait_points(page, points + 9, timeout=10_000)  # streaming again...
        wait_until(lambda: len(posts) >= sent + 2, 10, "two callback POSTs",
                   sleep=lambda s: page.wait_for_timeout(s * 1000))  # ...over HTTP
        wait_text(page, ids.KPI_STATUS, "Live")
        assert console.entries == []
        page.close()
    finally:
        relay.close()


def test_api_health_and_security_headers_under_the_prefix(server):
    status, _, body = fetch(server.url + PREFIX + "healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert fetch(server.url + "/healthz")[2] == body  # unprefixed too, for probes that talk to the app directly
    status, headers, body = fetch(server.url + PREFIX + "readyz")
    assert status == 200 and json.loads(body)["source"]["state"] == "running"
    status, _, body = fetch(server.url + PREFIX + "api/v1/points", json.dumps([{"value": 0.5}] * 5).encode(),
                            {"Content-Type": "application/json"})
    assert status == 201 and json.loads(body)["accepted"] == 5
    status, headers, body = fetch(server.url + PREFIX + "api/v1/points?limit=5")
    points = json.loads(body)["points"]
    assert status == 200 and len(points["seq"]) == 5 and headers["X-Content-Type-Options"] == "nosniff"
    assert fetch(server.url + PREFIX + "api/v1/points", b"[{", {"Content-Type": "application/json"})[0] == 400

    status, headers, page = fetch(server.url + PREFIX)
    csp = headers["Content-Security-Policy"]
    assert status == 200 and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'self'" in csp and headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Referrer-Policy"] == "same-origin" and headers["X-Content-Type-Options"] == "nosniff"
    assert '"websocket": {"enabled": true' in page.decode() or '"enabled":true' in page.decode()
    assert "assets/transport.js" in page.decode() and not re.search(rb'(src|href)="(https?:)?//', page)
    for script in re.findall(rb'<script id="_dash-renderer"[^>]*>(.*?)</script>', page, re.S):
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in csp  # the renderer with the transport hooks runs under the CSP

    # a tick still works over HTTP (the fallback), JSON without CSP, and bodies over 1 MiB are refused
    status, headers, body = fetch(server.url + PREFIX + CALLBACK_PATH, json.dumps(tick_request(1, None)).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["response"][ids.TICK]["data"]["reset"] is True
    assert "Content-Security-Policy" not in headers and headers["X-Content-Type-Options"] == "nosniff"
    assert declared_body_status(server, PREFIX + CALLBACK_PATH, 2 << 20) == 413  # answered before the body is read
    metrics = fetch(server.url + PREFIX + "metrics")[2].decode()
    assert "linewatch_store_up 1.0" in metrics and "linewatch_ready 1.0" in metrics
    for path in ("/docs", "/openapi.json"):  # no OpenAPI pages (Swagger UI comes from a CDN): the dashboard's 404
        status, headers, body = fetch(server.url + path)
        assert status == 404 and b"_dash-config" in body and b"swagger" not in body.lower()


def test_only_the_pages_and_the_apps_own_addresses_answer_under_the_prefix(server):
    wait_until(lambda: fetch(server.url + PREFIX + "line/line-1")[0] == 200, 15, "line-1's page")  # its first reading
    for path in ("some/other/path", "line/no-such-line", "x"):
        status, _, body = fetch(server.url + PREFIX + path)
        assert status == 404 and b"_dash-config" in body, path  # Dash's page, which says there is no such page
    for path in ("", "_favicon.ico", "assets/linewatch.js", "_dash-layout", "healthz", "metrics", "api/v1/lines"):
        assert fetch(server.url + PREFIX + path)[0] == 200, path


def layout_text(server, headers: dict) -> str:
    """The layout's JSON, decoded (servers may escape non-ASCII text as \\uXXXX), as text to search."""
    return json.dumps(json.loads(fetch(server.url + PREFIX + "_dash-layout", headers=headers)[2]), ensure_ascii=False)


def test_language_from_browser_query_cookie_and_referrer(server):
    zh, en = "实时缺陷监测", "Live defect monitoring"
    assert zh in layout_text(server, {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert en in layout_text(server, {"Accept-Language": "en-GB,en;q=0.9"})
    assert en in layout_text(server, {"Accept-Language": "zh-CN", "Cookie": "linewatch_lang=en"})
    assert zh in layout_text(server, {"Referer": f"{server.url}{PREFIX}?embed=1&lang=zh"})  # iframe, no cookie
    status, headers, _ = fetch(server.url + PREFIX + "?lang=zh")
    assert status == 200 and "linewatch_lang=zh" in headers["Set-Cookie"] and f"Path={PREFIX}" in headers["Set-Cookie"]


def test_viewer_access_control_covers_the_page_and_the_socket(tmp_path_factory):
    users = tmp_path_factory.mktemp("users") / "users.txt"
    users.write_text("op:" + generate_password_hash("s3cret") + "\n")
    server = asgi_server(tmp_path_factory, LINEWATCH_AUTH="basic", LINEWATCH_AUTH_USERS_FILE=str(users))
    try:
        good = {"Authorization": basic_auth("op", "s3cret")}
        bad = {"Authorization": basic_auth("op", "guess")}
        status, headers, body = fetch(server.url + PREFIX)
        assert status == 401 and headers["WWW-Authenticate"].startswith('Basic realm="LineWatch"')
        assert json.loads(body) == {"error": "authentication required"}
        assert fetch(server.url + PREFIX, headers=bad)[0] == 401
        assert fetch(server.url + PREFIX, headers=good)[0] == 200
        assert fetch(server.url + PREFIX + "api/v1/alerts")[0] == 401  # the Flask side guards its reads
        assert fetch(server.url + PREFIX + "api/v1/alerts", headers=good)[0] == 200
        assert fetch(server.url + PREFIX + "healthz")[0] == 200  # probes stay open

        ws_url = f"ws://127.0.0.1:{server.port}{PREFIX}_dash-ws-callback"
        origin = f"http://127.0.0.1:{server.port}"
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, origin=origin, open_timeout=5).close()
        assert refused.value.response.status_code == 401  # the HTTP answer, as uvicorn can send it at the handshake
        with connect(ws_url, origin=origin, additional_headers=good, open_timeout=5) as socket:
            socket.send(json.dumps({"type": "callback_request", "requestId": "r1", "rendererId": "t",
                                    "payload": tick_request(1, None)}))
            answer = json.loads(socket.recv(timeout=10))
        assert answer["type"] == "callback_response" and answer["requestId"] == "r1"
        assert answer["payload"]["data"]["response"][ids.TICK]["data"]["reset"] is True
    finally:
        server.stop()


def test_importing_the_asgi_app_starts_no_thread(tmp_path):
    probe = "import threading, app.asgi; print(sorted(t.name for t in threading.enumerate()))"
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "LINEWATCH_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['MainThread']"


def test_a_socket_answer_and_a_polled_answer_are_the_same_tick(server):
    """The two transports run the same callback: same keys, same cursor semantics."""
    origin = server.url
    with connect(f"ws://127.0.0.1:{server.port}{PREFIX}_dash-ws-callback", origin=origin, open_timeout=5) as socket:
        socket.send(json.dumps({"type": "callback_request", "requestId": "a", "rendererId": "t",
                                "payload": tick_request(1, None)}))
        first = json.loads(socket.recv(timeout=10))["payload"]["data"]["response"][ids.TICK]["data"]

    def polled() -> dict:
        _, _, body = fetch(server.url + PREFIX + CALLBACK_PATH, json.dumps(tick_request(2, first["cursor"])).encode(),
                           {"Content-Type": "application/json"})
        return json.loads(body)["response"][ids.TICK]["data"]

    delta = wait_until(lambda: (tick := polled())["ts"] and tick, 10, "a polled tick with new points")
    assert first["reset"] is True and set(delta) >= {"at", "cursor", "ts", "value", "prob", "rate"}, delta
    assert "reset" not in delta and delta["first"] == first["cursor"] + 1  # the delta continues the socket's cursor
