"""The one HTTP policy (app/policy.py): its decisions as plain functions, and both transports
(the WSGI adapter under HTTP polling, the ASGI adapter under the WebSocket transport) giving
the same answers and headers for the same requests."""

from __future__ import annotations

import asyncio
import functools
import gzip
import io
import json
import re

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from app.config import Config
import app.policy as policy_module
from app.policy import MAX_BODY_BYTES, LoginLimiter, Policy, accepts_gzip, viewer_key
from app.web import create_app
from app.websocket import asgi_app
from tests.helpers.alarms import Clock
from tests.helpers.auth import basic_auth
from tests.helpers.ticks import tick_request

PREFIX = "/tools/lw/"


def make_policy(**settings) -> tuple[Policy, list]:
    """A policy from LINEWATCH_* settings, and the list of times it asked for the page's script hashes."""
    asked = []
    config = Config.from_env({f"LINEWATCH_{key.upper()}": str(value) for key, value in settings.items()})
    return Policy(config, lambda: asked.append(1) or ["'sha256-abc='"], {}, lambda line: True), asked


basic = basic_auth


# --- the decisions, as plain functions ----------------------------------------------------------

@pytest.mark.parametrize("path, mount, expected", [
    ("/tools/lw/x", "", "/tools/lw/x"),  # a proxy that keeps the prefix
    ("/x", "", "/tools/lw/x"),  # one that strips it
    ("/x", "/tools/lw", "/tools/lw/x"),  # a mount point (SCRIPT_NAME, root_path)
    ("/tools/lw", "", "/tools/lw"),  # the bare prefix: the app redirects it to the slash
    ("", "/tools/lw", "/tools/lw"),
    ("/", "/elsewhere", "/tools/lw/elsewhere/"),  # another mount point stays under the prefix
])
def test_every_path_lands_under_the_prefix(path, mount, expected):
    policy, _ = make_policy(url_prefix=PREFIX)
    assert policy.path(path, mount) == (expected, "")


def test_without_a_prefix_paths_and_mount_points_are_left_alone():
    policy, _ = make_policy()
    assert policy.path("/x", "/mounted") == ("/x", "/mounted")


def test_forwarded_headers_count_only_from_a_trusted_peer_and_only_the_configured_hops():
    headers = Headers({"X-Forwarded-For": "6.6.6.6, 198.51.100.7", "X-Forwarded-Proto": "https",
                       "X-Forwarded-Host": "portal.example", "Host": "127.0.0.1:8050"})
    one_hop, _ = make_policy(trusted_proxies=1)
    assert one_hop.forwarded("127.0.0.1", headers) == {"client": "198.51.100.7", "scheme": "https",
                                                       "host": "portal.example"}
    assert one_hop.forwarded("203.0.113.9", headers) == {}  # not a trusted peer
    two_hops, _ = make_policy(trusted_proxies=2)
    assert two_hops.forwarded("127.0.0.1", headers)["client"] == "6.6.6.6"
    assert two_hops.forwarded("127.0.0.1", headers).keys() == {"client"}  # one Proto, one Host: not two hops
    untrusting, _ = make_policy()
    assert untrusting.forwarded("127.0.0.1", headers) == {}  # LINEWATCH_TRUSTED_PROXIES unset
    odd = Headers({"X-Forwarded-Proto": "gopher", "X-Forwarded-Port": "8443", "Host": "lw.example:8050"})
    assert one_hop.forwarded("::1", odd) == {"host": "lw.example:8443"}  # an unknown scheme is ignored


def test_access_open_paths_and_the_body_limit(users_file):
    policy, _ = make_policy(url_prefix=PREFIX, auth="basic", auth_users_file=users_file)
    refusal = policy.check("GET", PREFIX, Headers(), "127.0.0.1")[1]
    assert (refusal.status, refusal.message) == (401, "authentication required")
    assert dict(refusal.headers)["WWW-Authenticate"] == 'Basic realm="LineWatch", charset="UTF-8"'
    assert policy.check("GET", PREFIX, Headers({"Authorization": basic("alice", "s3cret")}), "") == ("alice", None)
    assert policy.check("GET", PREFIX, Headers({"Authorization": basic("alice", "guess")}), "")[1].status == 401
    for method, path in (("GET", PREFIX + "healthz"), ("GET", PREFIX + "readyz")):
        assert policy.check(method, path, Headers(), "") == (None, None)
    assert policy.check("GET", PREFIX + "api/v1/points", Headers(), "")[1].status == 401  # reading needs a viewer
    assert policy.check("POST", PREFIX + "api/v1/points", Headers(), "")[1].status == 401  # so does writing
    too_big = Headers({"Content-Length": str(MAX_BODY_BYTES + 1)})
    assert policy.check("POST", PREFIX + "api/v1/points", too_big, "")[1].status == 413
    tokened, _ = make_policy(url_prefix=PREFIX, auth="basic", auth_users_file=users_file, ingest_token="t0ken")
    assert tokened.check("POST", PREFIX + "api/v1/points", Headers(), "") == (None, None)  # app/api.py checks the token
    assert tokened.check("GET", PREFIX + "api/v1/points", Headers(), "")[1].status == 401




    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_login_limiter_waits_for_the_oldest_of_the_last_failures_to_leave_the_window():
    clock = Clock()
    limiter = LoginLimiter(limit=5, window_s=60, clock=clock)
    start = clock.now
    for offset in (0, 10, 20, 30):
        clock.now = start + offset
        limiter.failed(["client 10.0.0.1"])
        assert limiter.wait(["client 10.0.0.1"]) == 0  # fewer than 5 failures in the window
    clock.now = start + 40
    limiter.failed(["client 10.0.0.1"])
    assert limiter.wait(["client 10.0.0.1"]) == 20  # the failure at 0 leaves at 60
    clock.now = start + 59.5
    assert limiter.wait(["client 10.0.0.1"]) == 1  # whole seconds, rounded up
    clock.now = start + 60
    assert limiter.wait(["client 10.0.0.1"]) == 0
    limiter.failed(["client 10.0.0.1"])
    assert limiter.wait(["client 10.0.0.1"]) == 10  # the window slides: now the failure at 10 is the oldest


def test_the_login_limiter_keys_are_apart_and_the_longest_wait_counts():
    clock = Clock()
    limiter = LoginLimiter(limit=2, window_s=60, clock=clock)
    limiter.failed(["client a", "user alice"])
    clock.now += 30
    limiter.failed(["client b", "user alice"])
    assert limiter.wait(["client a"]) == limiter.wait(["client b"]) == 0
    assert limiter.wait(["user alice"]) == 30
    clock.now += 10
    limiter.failed(["client b", "user bob"])
    assert limiter.wait(["client b", "user alice"]) == 50 and limiter.wait(["client c", "user carol"]) == 0


def test_the_login_limiter_remembers_a_bounded_number_of_keys():
    limiter = LoginLimiter(limit=1, window_s=60, max_keys=3, clock=Clock())
    for number in range(10):
        limiter.failed([f"user {number}"])
    assert [limiter.wait([f"user {number}"]) > 0 for number in range(10)] == [False] * 7 + [True] * 3


def test_failed_logins_are_limited_per_client_address_as_a_trusted_proxy_names_it(users_file):
    policy, _ = make_policy(auth="basic", auth_users_file=users_file, trusted_proxies=1)
    policy.logins = LoginLimiter(clock=Clock())

    def sign_in(user, password, client, peer="127.0.0.1"):
        headers = Headers({"Authorization": basic(user, password), "X-Forwarded-For": client})
        refusal = policy.check("GET", "/", headers, peer)[1]
        return refusal.status if refusal else 200

    assert [sign_in(f"guess{n}", "x", "198.51.100.7") for n in range(6)] == [401] * 5 + [429]
    assert sign_in("alice", "s3cret", "198.51.100.7") == 429  # that address waits, right password or not
    assert sign_in("alice", "s3cret", "198.51.100.8") == 200  # another client behind the same proxy
    assert [sign_in(f"guess{n}", "x", f"192.0.2.{n}", peer="203.0.113.9") for n in range(6)] == [401] * 5 + [429]
    assert [sign_in("bob", "x", f"192.0.2.{n}") for n in range(6)] == [401] * 5 + [429]  # one user name, anywhere
    assert sign_in("carol", "x", "192.0.2.5") == 401  # another user name from the sixth address


def test_the_user_header_counts_only_from_a_trusted_peer():
    policy, _ = make_policy(auth="header", trusted_proxies=1, auth_header="X-Remote-User")
    named = Headers({"X-Remote-User": "alice"})
    assert policy.check("GET", "/", named, "127.0.0.1") == ("alice", None)
    assert policy.check("GET", "/", named, "203.0.113.9")[1].status == 401
    assert policy.check("GET", "/", Headers({"X-Remote-User": " "}), "127.0.0.1")[1].status == 401


def test_response_headers_pages_get_the_csp_once_everything_gets_nosniff():
    policy, asked = make_policy(frame_ancestors="'none'")
    page = dict(policy.response_headers("text/html; charset=utf-8", ""))
    assert page["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self' 'sha256-abc='")
    assert page["X-Frame-Options"] == "DENY" and page["Referrer-Policy"] == "same-origin"
    assert page["X-Content-Type-Options"] == "nosniff"
    policy.response_headers("text/html", "")
    assert asked == [1]  # the hashes are read at the first page only
    assert policy.response_headers("application/json", "") == [("X-Content-Type-Options", "nosniff")]


@pytest.mark.parametrize("query, cookie", [("lang=zh", "linewatch_lang=zh"), ("embed=1&lang=en", "linewatch_lang=en"),
                                           ("lang=fr", None), ("slang=zh", None), ("", None)])
def test_the_language_cookie(query, cookie):
    policy, _ = make_policy(url_prefix=PREFIX)
    cookies = [value for name, value in policy.response_headers("application/json", query) if name == "Set-Cookie"]
    assert [c.split(";")[0] for c in cookies] == ([cookie] if cookie else [])
    assert all(f"Path={PREFIX}" in c and "SameSite=Lax" in c for c in cookies)


@pytest.mark.parametrize("header, accepted", [("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.5", True),
                                              ("*", True), ("gzip;q=0", False), ("gzip; q=0.000", False),
                                              ("br, zstd", False), ("", False), (None, False)])
def test_accepts_gzip(header, accepted):
    assert accepts_gzip(header) is accepted


def test_the_viewer_key_is_address_and_user_agent():
    assert viewer_key("10.0.0.5", "Firefox") == "10.0.0.5|Firefox"
    assert viewer_key(None, None) == "|"


# --- both transports, the same answers ------------------------------------------------------------

async def asgi_request(app, method: str, url: str, headers: dict, body: bytes):
    """One HTTP request to an ASGI app from 127.0.0.1: (status, headers, body)."""
    path, _, query = url.partition("?")
    headers = headers if "Transfer-Encoding" in headers else {**headers, "Content-Length": str(len(body))}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("localhost", 80)}
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()  # the client stays until answered, as on a real connection

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return (sent[0]["status"], Headers([(k.decode(), v.decode()) for k, v in sent[0]["headers"]]),
            b"".join(m.get("body", b"") for m in sent[1:]))


POLICY_HEADERS = ("Content-Encoding", "Vary", "X-Content-Type-Options", "Referrer-Policy",
                  "X-Frame-Options", "Set-Cookie", "WWW-Authenticate", "Retry-After")


def seen(status: int, headers: Headers, body: bytes) -> dict:
    """What the policy decided about one answer (the CSP without the page's own script hashes)."""
    decided = {"status": status, **{name: headers.get(name) for name in POLICY_HEADERS}}
    if decided["Set-Cookie"]:  # its Expires is the answer's second: the two transports answer apart
        decided["Set-Cookie"] = re.sub(r"Expires=[^;]*; ", "", decided["Set-Cookie"])
    csp = headers.get("Content-Security-Policy")
    if csp:
        assert csp.count("'sha256-") >= 2  # the renderer start-up and the inline clientside callbacks
        decided["Content-Security-Policy"] = " ".join(s for s in csp.split(" ") if not s.startswith("'sha256-"))
    if headers.get("Content-Type") == "application/json" and status >= 400:
        decided["body"] = json.loads(gzip.decompress(body) if headers.get("Content-Encoding") else body)
    return decided


def both_transports(tmp_path, requests, **settings) -> tuple[list[dict], list[dict]]:
    """``requests`` (method, url, headers, body) answered by a polling app and by a WebSocket-transport app."""
    env = {"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SIM_RATE": "50",
           **{f"LINEWATCH_{key.upper()}": str(value) for key, value in settings.items()}}
    polling = create_app(Config.from_env(env))
    socket = create_app(Config.from_env({**env, "LINEWATCH_TRANSPORT": "websocket",
                                         "LINEWATCH_DATA_DIR": str(tmp_path / "ws-data")}))
    try:
        client = polling.server.test_client()
        over_wsgi = []
        for method, url, headers, body in requests:
            if "Transfer-Encoding" in headers:  # no Content-Length (the test client would add one)
                builder = EnvironBuilder(url, method=method, headers=headers, input_stream=io.BytesIO(body))
                environ = {**builder.get_environ(), "wsgi.input_terminated": True}  # read to the end
                del environ["CONTENT_LENGTH"]
                answer, status, answer_headers = run_wsgi_app(polling.server, environ)
                over_wsgi.append(seen(int(status.split()[0]), answer_headers, b"".join(answer)))
                continue
            answer = client.open(url, method=method, headers=headers, data=body)
            over_wsgi.append(seen(answer.status_code, answer.headers, answer.data))

        async def ask_all():
            return [seen(*await asgi_request(asgi_app(socket), *request)) for request in requests]

        over_asgi = asyncio.run(ask_all())
    finally:
        polling.server.extensions["linewatch"].stop()
        socket.server.state.linewatch.stop()
    return over_wsgi, over_asgi


GZ = {"Accept-Encoding": "gzip, deflate, br"}
JSON = {**GZ, "Content-Type": "application/json"}


def test_both_transports_answer_with_the_same_headers(tmp_path):
    tick = json.dumps(tick_request(1, 10**9)).encode()  # an idle tick: ~150 B, not worth compressing
    backfill = json.dumps(tick_request(1, None)).encode()  # a browser's first tick: the 200 points below
    requests = [("GET", PREFIX + "?lang=zh", GZ, b""),
                ("GET", PREFIX, {"Accept-Encoding": "gzip;q=0"}, b""),
                ("GET", PREFIX + "_dash-layout", GZ, b""),
                ("POST", PREFIX + "_dash-update-component", JSON, tick),
                ("POST", PREFIX + "api/v1/points", JSON, json.dumps([{"value": 0.5}] * 200).encode()),
                ("POST", PREFIX + "_dash-update-component", JSON, backfill),
                ("GET", "/healthz", GZ, b""),  # a proxy that strips the prefix
                ("GET", PREFIX + "api/v1/alerts", GZ, b""),
                ("POST", PREFIX + "api/v1/points", JSON, b"[" + b" " * MAX_BODY_BYTES + b"]"),
                ("POST", PREFIX + "_dash-update-component", JSON, b"{}")]  # not a callback request: refused
    over_wsgi, over_asgi = both_transports(tmp_path, requests, url_prefix=PREFIX,
                                           frame_ancestors="'self' https://portal.example.com")
    assert over_wsgi == over_asgi
    page, plain_page, layout, tick_answer, ingested, first_tick, health, alerts, too_big, malformed = over_wsgi
    assert page["Content-Encoding"] == "gzip" and "frame-ancestors 'self' https://portal.example.com" in \
        page["Content-Security-Policy"] and page["X-Frame-Options"] is None
    assert page["Set-Cookie"].startswith("linewatch_lang=zh") and plain_page["Content-Encoding"] is None
    assert layout["Content-Encoding"] == "gzip" and "Content-Security-Policy" not in layout
    assert tick_answer["status"] == 200 and tick_answer["Content-Encoding"] is tick_answer["Vary"] is None
    assert ingested["status"] == 201 and first_tick["Content-Encoding"] == "gzip"
    assert health["status"] == alerts["status"] == 200 and health["X-Content-Type-Options"] == "nosniff"
    assert too_big["status"] == 413 and "error" in too_big["body"]
    assert malformed["status"] == 400 and malformed["body"] == {
        "error": "not a valid callback request: a callback request is a JSON object naming its output"}


def test_both_transports_refuse_alike(tmp_path, users_file):
    requests = [("GET", "/", {}, b""), ("GET", "/api/v1/alerts", {"Authorization": basic("alice", "guess")}, b""),
                ("GET", "/", {"Authorization": basic("alice", "s3cret")}, b""), ("GET", "/healthz", {}, b"")]
    over_wsgi, over_asgi = both_transports(tmp_path, requests, auth="basic", auth_users_file=users_file)
    assert over_wsgi == over_asgi
    refused, wrong, allowed, health = over_wsgi
    assert refused["status"] == wrong["status"] == 401 and refused["body"] == {"error": "authentication required"}
    assert refused["WWW-Authenticate"] == 'Basic realm="LineWatch", charset="UTF-8"'
    assert allowed["status"] == health["status"] == 200 and allowed["X-Frame-Options"] == "SAMEORIGIN"


def test_both_transports_limit_failed_logins_alike(tmp_path, users_file, monkeypatch):
    monkeypatch.setattr(policy_module, "LoginLimiter", functools.partial(LoginLimiter, clock=Clock()))
    guess = ("GET", "/api/v1/alerts", {"Authorization": basic("alice", "guess")}, b"")
    requests = [guess] * 6 + [("GET", "/", {"Authorization": basic("alice", "s3cret")}, b""),
                              ("GET", "/healthz", {}, b"")]
    over_wsgi, over_asgi = both_transports(tmp_path, requests, auth="basic", auth_users_file=users_file)
    assert over_wsgi == over_asgi
    assert [answer["status"] for answer in over_wsgi] == [401] * 5 + [429, 429, 200]
    limited = over_wsgi[5]
    assert limited["Retry-After"] == "60" and limited["WWW-Authenticate"] is None
    assert limited["body"] == {"error": "too many failed sign-ins: try again in 60 s"}


async def asgi_handshake(app, path: str, headers: dict, denial_responses: bool = True) -> list[dict]:
    """A WebSocket handshake to an ASGI app from 127.0.0.1: the messages the app sends before it accepts
    or answers (``denial_responses``: the server offers the ASGI denial-response extension)."""
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "subprotocols": [],
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
             "extensions": {"websocket.http.response": {}} if denial_responses else {}}
    incoming = [{"type": "websocket.connect"}]
    sent = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()

    async def send(message):
        sent.append(message)
        if message["type"] in ("websocket.accept", "websocket.close") or not message.get("more_body", True):
            raise asyncio.CancelledError  # answered: the handshake is over

    try:
        await app(scope, receive, send)
    except asyncio.CancelledError:
        pass
    return sent


def test_a_socket_handshake_refused_by_the_login_limiter_answers_429_with_retry_after(tmp_path, users_file,
                                                                                      monkeypatch):
    monkeypatch.setattr(policy_module, "LoginLimiter", functools.partial(LoginLimiter, clock=Clock()))
    socket = create_app(Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_AUTH": "basic",
                                         "LINEWATCH_AUTH_USERS_FILE": str(users_file),
                                         "LINEWATCH_TRANSPORT": "websocket"}))
    try:
        application = asgi_app(socket)
        right = {"Authorization": basic("alice", "s3cret")}

        async def guess_then_connect():
            for _ in range(5):
                await asgi_request(application, "GET", "/api/v1/alerts", {"Authorization": basic("alice", "x")}, b"")
            return (await asgi_handshake(application, "/_dash-ws-callback", right),
                    await asgi_handshake(application, "/_dash-ws-callback", right, denial_responses=False))

        answered, closed = asyncio.run(guess_then_connect())
    finally:
        socket.server.state.linewatch.stop()
    start = answered[0]
    assert start["type"] == "websocket.http.response.start" and start["status"] == 429
    assert dict(start["headers"])[b"retry-after"] == b"60"
    assert json.loads(answered[1]["body"]) == {"error": "too many failed sign-ins: try again in 60 s"}
    assert closed == [{"type": "websocket.close", "code": 1008, "reason": ""}]  # a server without the extension: 403


def test_both_transports_refuse_a_chunked_body_over_the_limit(tmp_path):
    chunked = {**JSON, "Transfer-Encoding": "chunked"}
    requests = [("POST", "/_dash-update-component", chunked, b"{" + b" " * MAX_BODY_BYTES + b"}"),
                ("POST", "/_dash-update-component", chunked, json.dumps(tick_request(1, 10**9)).encode()),
                ("POST", "/api/v1/points", chunked, json.dumps([{"value": 0.5}] * 3).encode()),  # Flask, too
                ("POST", "/api/v1/points", chunked, b"[" + b" " * MAX_BODY_BYTES + b"]")]
    over_wsgi, over_asgi = both_transports(tmp_path, requests)
    assert over_wsgi == over_asgi
    assert [answer["status"] for answer in over_wsgi] == [413, 200, 201, 413]
    assert over_wsgi[0]["body"] == {"error": f"request body larger than {MAX_BODY_BYTES} bytes"}
