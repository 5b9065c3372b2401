"""Secure defaults: headers and CSP, viewer auth, proxy trust, body limits, error pages,
compression, mounting on a host app, debug off and JSON logs in real processes."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import json
import logging
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from flask import Flask, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.security import generate_password_hash

import app.policy as policy
from app.logs import formatter
from app.policy_wsgi import peer_address
from app.web import create_app
from app.policy import MAX_BODY_BYTES
from app.config import Config, ConfigError
from tests.helpers.processes import ROOT, procfile_web_argv
from tests.helpers.auth import basic_auth
from tests.helpers.ticks import tick_request

PREFIX = "/tools/lw/"


@pytest.fixture
def make_app(tmp_path):
    """``make_app(**settings)``: an app from LINEWATCH_* settings (keys without the prefix)."""
    built = []

    def make(server=None, **settings):
        env = {"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SIM_RATE": "50",
               **{f"LINEWATCH_{key.upper()}": str(value) for key, value in settings.items()}}
        dash_app = create_app(Config.from_env(env), server=server)
        built.append(dash_app)
        return dash_app

    yield make
    for dash_app in built:
        dash_app.server.extensions["linewatch"].stop()


def with_echo(dash_app, path="/echo"):
    """A route that shows what the app believes about the request (URL, client address)."""
    dash_app.server.add_url_rule(path, "echo", lambda: {"url": request.url, "remote_addr": request.remote_addr})
    return dash_app.server.test_client()


def inline_scripts(page: str) -> list[str]:
    """Executable inline scripts of a page (Dash's JSON config block is data, not script)."""
    return [body for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
            if "src=" not in attrs and "application/json" not in attrs and body.strip()
            and not body.lstrip().startswith("alert(")]  # the <!--[if IE]> comment is never run


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split(";"))}


# --- headers and CSP -------------------------------------------------------------------------

def test_the_page_carries_a_csp_that_allows_exactly_its_inline_scripts(make_app):
    client = make_app().server.test_client()
    response = client.get("/")
    policy = directives(response.headers["Content-Security-Policy"])
    page = response.get_data(as_text=True)
    scripts = inline_scripts(page)
    assert len(scripts) >= 2  # the renderer start-up and the inline clientside callbacks
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts}
    assert hashes <= set(policy["script-src"])
    assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another origin to allow


def test_json_answers_are_nosniff_without_page_headers(make_app):
    client = make_app().server.test_client()
    for response in (client.get("/healthz"), client.post("/_dash-update-component", json=tick_request(1, None))):
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response.headers  # governs documents; saves bytes per tick


@pytest.mark.parametrize("ancestors, frame_options", [
    ("'self'", "SAMEORIGIN"),
    ("'none'", "DENY"),
    ("'self' https://portal.example.com", None),
    ("https://portal.example.com http://127.0.0.1:8000", None),
])
def test_frame_ancestors_and_x_frame_options_only_where_they_agree(make_app, ancestors, frame_options):
    response = make_app(frame_ancestors=ancestors).server.test_client().get("/")
    assert directives(response.headers["Content-Security-Policy"])["frame-ancestors"] == ancestors.split()
    assert response.headers.get("X-Frame-Options") == frame_options


@pytest.mark.parametrize("ancestors", ["'self'; script-src *", "https://a.example, https://b.example",
                                       "'none' 'self'", "'unsafe-inline'", ""])
def test_a_frame_ancestors_value_that_could_change_the_policy_is_refused(make_app, ancestors):
    with pytest.raises(ConfigError, match="LINEWATCH_FRAME_ANCESTORS"):
        policy.frame_ancestors_sources(ancestors)


# --- viewer access control -------------------------------------------------------------------

def basic(user: str, password: str) -> dict:
    return {"Authorization": basic_auth(user, password)}


def test_basic_auth_guards_the_dashboard_and_writes_but_not_health(make_app, users_file, monkeypatch):
    client = make_app(url_prefix=PREFIX, auth="basic", auth_users_file=users_file).server.test_client()
    paths = (PREFIX, PREFIX + "_dash-layout", PREFIX + "api/v1/points", PREFIX + "metrics")
    for number, path in enumerate(paths):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="LineWatch", charset="UTF-8"'
        elsewhere = {"REMOTE_ADDR": f"10.0.0.{number}"}  # under each address's limit of failed logins
        assert client.get(path, headers=basic("alice", "wrong"), environ_base=elsewhere).status_code == 401
        assert client.get(path, headers=basic("mallory", "s3cret"), environ_base=elsewhere).status_code == 401
        assert client.get(path, headers=basic("alice", "s3cret")).status_code == 200, path
    assert client.get(PREFIX + "healthz").status_code == 200
    assert client.get(PREFIX + "readyz").status_code == 200
    assert client.post(PREFIX + "api/v1/points", json=[{"value": 0.5}]).status_code == 401  # no token: a viewer
    ingest = client.post(PREFIX + "api/v1/points", json=[{"value": 0.5}], headers=basic("alice", "s3cret"))
    assert ingest.status_code == 201

    calls = []
    monkeypatch.setattr(policy, "check_password_hash", lambda *a: calls.append(a) or True)
    for _ in range(5):  # a browser sends the same credentials with every tick
        assert client.get(PREFIX + "healthz", headers=basic("alice", "s3cret")).status_code == 200
        assert client.post(PREFIX + "_dash-update-component", json=tick_request(1, None),
                           headers=basic("alice", "s3cret")).status_code == 200
    assert calls == []  # verified once above, remembered since


def test_failed_logins_are_limited_without_hashing_and_others_still_sign_in(make_app, tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(policy, "LoginLimiter", functools.partial(policy.LoginLimiter, clock=lambda: now[0]))
    users = tmp_path / "users.txt"
    users.write_text("".join(f"{user}:{generate_password_hash(user + '-pw')}\n" for user in ("alice", "bob")))
    client = make_app(url_prefix=PREFIX, auth="basic", auth_users_file=users).server.test_client()

    def sign_in(user, password, address):
        return client.get(PREFIX + "api/v1/alerts", headers=basic(user, password),
                          environ_base={"REMOTE_ADDR": address})

    assert sign_in("alice", "alice-pw", "10.0.0.2").status_code == 200  # alice's browser, signed in
    assert [sign_in("alice", "guess", "10.0.0.66").status_code for _ in range(5)] == [401] * 5
    real, hashed = policy.check_password_hash, []
    monkeypatch.setattr(policy, "check_password_hash", lambda *a: hashed.append(a) or real(*a))
    limited = sign_in("alice", "guess", "10.0.0.66")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"
    assert limited.json == {"error": "too many failed sign-ins: try again in 60 s"}
    assert sign_in("bob", "bob-pw", "10.0.0.66").status_code == 429  # that address waits
    assert hashed == []  # neither cost a password hash
    assert sign_in("alice", "alice-pw", "10.0.0.2").status_code == 200  # alice's browser goes on
    assert sign_in("alice", "alice-pw", "10.0.0.9").status_code == 200  # credentials verified before pass anywhere
    assert sign_in("bob", "bob-pw", "10.0.0.3").status_code == 200  # another user elsewhere signs in
    now[0] += 60
    assert sign_in("alice", "alice-pw", "10.0.0.66").status_code == 200  # the window passed


def test_a_bad_users_file_stops_start_up(make_app, tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("alice:plaintext-password\n")
    with pytest.raises(ConfigError, match="line 1 is not user:hash"):
        make_app(auth="basic", auth_users_file=path)


def test_header_auth_trusts_the_user_header_only_from_a_trusted_proxy(make_app):
    client = make_app(auth="header", trusted_proxies=1, auth_header="X-Remote-User").server.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"X-Remote-User": "alice"}).status_code == 200  # from 127.0.0.1
    assert client.get("/", headers={"X-Forwarded-User": "alice"}).status_code == 401  # not the configured one
    untrusted = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/", headers={"X-Remote-User": "alice"}, environ_base=untrusted).status_code == 401
    assert client.get("/healthz", environ_base=untrusted).status_code == 200


def test_header_auth_needs_trusted_proxies():
    with pytest.raises(ConfigError, match="LINEWATCH_TRUSTED_PROXIES"):
        Config.from_env({"LINEWATCH_AUTH": "header"})


# --- reverse proxies and the URL prefix ------------------------------------------------------

FORWARDED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example"}


def test_forwarded_headers_are_ignored_without_trusted_proxies(make_app):
    client = with_echo(make_app(url_prefix=PREFIX), PREFIX + "echo")
    seen = client.get(PREFIX + "echo", headers={**FORWARDED, "X-Forwarded-Prefix": "/elsewhere"}).get_json()
    assert seen == {"url": f"http://localhost{PREFIX}echo", "remote_addr": "127.0.0.1"}
    redirect = client.get(PREFIX.rstrip("/"), headers=FORWARDED)
    assert redirect.headers["Location"] == f"http://localhost{PREFIX}"


def test_forwarded_headers_from_a_trusted_proxy_are_honoured(make_app):
    client = with_echo(make_app(url_prefix=PREFIX, trusted_proxies=1), PREFIX + "echo")
    seen = client.get(PREFIX + "echo", headers=FORWARDED).get_json()
    assert seen == {"url": f"https://portal.example{PREFIX}echo", "remote_addr": "198.51.100.7"}
    assert client.get(PREFIX.rstrip("/"), headers=FORWARDED).headers["Location"] == f"https://portal.example{PREFIX}"
    # a proxy that strips the prefix and says so: the same public URL
    stripped = client.get("/echo", headers={**FORWARDED, "X-Forwarded-Prefix": PREFIX.rstrip("/")}).get_json()
    assert stripped["url"] == f"https://portal.example{PREFIX}echo"
    # only as many hops as configured: the client's own X-Forwarded-For entry is not believed
    two_hops = client.get(PREFIX + "echo", headers={**FORWARDED, "X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
    assert two_hops.get_json()["remote_addr"] == "198.51.100.7"


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(make_app):
    client = with_echo(make_app(url_prefix=PREFIX, trusted_proxies=1), PREFIX + "echo")
    seen = client.get(PREFIX + "echo", headers=FORWARDED, environ_base={"REMOTE_ADDR": "203.0.113.9"}).get_json()
    assert seen == {"url": f"http://localhost{PREFIX}echo", "remote_addr": "203.0.113.9"}


def test_trusted_proxy_addresses_are_the_same_host_unless_configured():
    def trusted(address, config):
        return policy.is_trusted(address, policy.proxy_networks(config))

    default = Config.from_env({})  # without LINEWATCH_TRUSTED_PROXY_IPS
    assert trusted("127.0.0.1", default) and trusted("127.8.9.10", default) and trusted("::1", default)
    assert trusted("::ffff:127.0.0.1", default)  # a dual-stack socket's view of 127.0.0.1
    assert not trusted("10.0.0.5", default) and not trusted("::ffff:10.0.0.5", default)
    listed = Config.from_env({"LINEWATCH_TRUSTED_PROXY_IPS": "10.0.0.0/24, 192.168.1.7"})
    assert trusted("10.0.0.5", listed) and trusted("192.168.1.7", listed)
    assert not trusted("192.168.1.8", listed) and not trusted("127.0.0.1", listed)
    # ProxyFix already ran (e.g. the host app's): the peer is the address it replaced
    rewritten = {"REMOTE_ADDR": "198.51.100.7", "werkzeug.proxy_fix.orig": {"REMOTE_ADDR": "127.0.0.1"}}
    assert peer_address(rewritten) == "127.0.0.1" and peer_address({"REMOTE_ADDR": "10.0.0.5"}) == "10.0.0.5"


def test_a_proxy_on_another_host_is_trusted_once_its_address_is_listed(make_app):
    if "trusted_proxy_ips" not in Config.__dataclass_fields__:
        pytest.skip("LINEWATCH_TRUSTED_PROXY_IPS needs the app/config.py change proposed with this work")
    client = with_echo(make_app(url_prefix=PREFIX, trusted_proxies=1, trusted_proxy_ips="10.0.0.0/24"),
                       PREFIX + "echo")
    from_proxy = client.get(PREFIX + "echo", headers=FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert from_proxy.get_json()["remote_addr"] == "198.51.100.7"
    from_here = client.get(PREFIX + "echo", headers=FORWARDED)  # 127.0.0.1 is no longer listed
    assert from_here.get_json()["remote_addr"] == "127.0.0.1"


@pytest.mark.parametrize("path", ["/healthz", PREFIX + "healthz"])
def test_the_prefixed_app_answers_whether_the_proxy_strips_the_prefix_or_not(make_app, path):
    response = make_app(url_prefix=PREFIX).server.test_client().get(path)
    assert response.get_json() == {"status": "ok"}


def test_a_dispatcher_middleware_mount(make_app):
    linewatch = make_app(url_prefix="/linewatch/")
    portal = Flask("portal")
    portal.get("/")(lambda: "portal home")
    portal.wsgi_app = DispatcherMiddleware(portal.wsgi_app, {"/linewatch": linewatch.server})
    client = portal.test_client()
    assert client.get("/").get_data(as_text=True) == "portal home"
    assert client.get("/linewatch/healthz").get_json() == {"status": "ok"}
    assert client.get("/linewatch").headers["Location"] == "http://localhost/linewatch/"  # relative links need the /
    page = client.get("/linewatch/")
    assert 'src="/linewatch/_dash-component-suites/' in page.get_data(as_text=True)
    assert client.post("/linewatch/_dash-update-component", json=tick_request(1, None)).status_code == 200


def test_mounted_on_a_host_app_only_linewatch_paths_change(make_app):
    portal = Flask("portal")
    portal.get("/")(lambda: "<p>portal</p>")
    portal.add_url_rule("/news", "news", lambda: "<p>" + "portal news " * 200 + "</p>")  # worth a gzip

    @portal.get("/boom")
    def boom():
        raise RuntimeError("portal bug")

    portal.register_error_handler(500, lambda exc: ("portal's own error page", 500))
    make_app(server=portal, url_prefix="/linewatch/")
    client = portal.test_client()
    bare = Flask("bare")  # a host app with no error page of its own keeps Flask's default one
    bare.get("/boom")(boom)
    make_app(server=bare, url_prefix="/linewatch/")
    default_page = bare.test_client().get("/boom")
    assert default_page.status_code == 500 and default_page.mimetype == "text/html"
    home = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert home.get_data(as_text=True) == "<p>portal</p>"
    assert not {"Content-Security-Policy", "X-Frame-Options", "Content-Encoding"} & set(home.headers.keys())
    news = client.get("/news", headers={"Accept-Encoding": "gzip"})
    assert not {"Content-Encoding", "Vary", "X-Content-Type-Options"} & set(news.headers.keys())  # the host's own
    assert not [key for key in portal.config if key.startswith("COMPRESS_")]  # its Flask-Compress settings too
    assert client.get("/boom").get_data(as_text=True) == "portal's own error page"
    assert "Content-Security-Policy" in client.get("/linewatch/").headers
    assert client.get("/linewatch/healthz").get_json() == {"status": "ok"}
    with pytest.raises(ValueError, match="LINEWATCH_URL_PREFIX"):
        create_app(Config.from_env({}), server=Flask("another"))


# --- limits and errors -----------------------------------------------------------------------

def test_bodies_over_one_mebibyte_are_refused_with_413(make_app):
    client = make_app().server.test_client()
    too_big = b"{" + b" " * MAX_BODY_BYTES + b"}"
    response = client.post("/_dash-update-component", data=too_big, content_type="application/json")
    assert response.status_code == 413 and "error" in response.get_json()
    assert client.post("/api/v1/points", data=too_big, content_type="application/json").status_code == 413
    exactly = json.dumps([{"value": 0.25}]).encode()
    exactly += b" " * (MAX_BODY_BYTES - len(exactly))
    assert client.post("/api/v1/points", data=exactly, content_type="application/json").status_code == 201


def test_server_errors_answer_json_without_a_stack_trace_and_log_one_json_line(make_app):
    dash_app = make_app()

    @dash_app.server.get("/fail")
    def fail():
        raise RuntimeError("secret internals")

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(formatter("json"))
    logging.getLogger().addHandler(handler)
    try:
        response = dash_app.server.test_client().get("/fail")
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 500 and response.get_json() == {"error": "internal server error"}
    assert b"Traceback" not in response.data and b"secret" not in response.data
    error = next(entry for entry in map(json.loads, log.getvalue().splitlines()) if entry["level"] == "ERROR")
    assert error["method"] == "GET" and error["path"] == "/fail" and error["remote_addr"] == "127.0.0.1"
    assert "Traceback" in error["exception"] and "secret internals" in error["exception"]  # for the operator


# --- compression -----------------------------------------------------------------------------

def test_pages_scripts_and_big_json_are_gzipped_small_ticks_are_not(make_app):
    client = make_app(source="http").server.test_client()  # no reading arrives: the tick below stays small
    gz = {"Accept-Encoding": "gzip, deflate, br"}
    page = client.get("/", headers=gz)
    assert page.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in page.headers["Vary"]
    html = gzip.decompress(page.data).decode()
    assert html.lstrip().startswith("<!DOCTYPE html>") and "_dash-config" in html
    bundle = re.search(r'src="(/_dash-component-suites/dash_ag_grid/[^"]+)"', html).group(1)
    first, second = client.get(bundle, headers=gz), client.get(bundle, headers=gz)
    assert first.headers["Content-Encoding"] == "gzip" and first.data == second.data
    assert len(first.data) < len(gzip.decompress(first.data)) / 3
    # a compressed file has a validator of its own, and revalidating with it answers 304
    css_path = re.search(r'href="(/assets/bootstrap[^"]+)"', html).group(1)
    css = client.get(css_path, headers=gz)
    assert css.headers["Content-Encoding"] == "gzip" and css.headers["ETag"] != client.get(css_path).headers["ETag"]
    assert client.get(css_path, headers={**gz, "If-None-Match": css.headers["ETag"]}).status_code == 304
    # plotly.js (4.8 MB, no fingerprint): Dash's ETag, per encoding
    plotly = "/_dash-component-suites/plotly/package_data/plotly.min.js"
    full = client.get(plotly, headers=gz)
    assert full.headers["Content-Encoding"] == "gzip" and full.headers["ETag"] != client.get(plotly).headers["ETag"]
    assert client.get(plotly, headers={**gz, "If-None-Match": full.headers["ETag"]}).status_code == 304
    assert client.get(plotly, headers=gz).data == full.data  # kept, not compressed again
    first = client.post("/_dash-update-component", json=tick_request(1, None)).get_json()["response"]["tick"]["data"]
    idle = tick_request(2, first["cursor"], alarm_version=first["alarm_bar"]["version"])  # the page is up to date
    tick = client.post("/_dash-update-component", json=idle, headers=gz)
    assert tick.status_code == 200 and "Content-Encoding" not in tick.headers
    assert "Content-Encoding" not in client.get("/", headers={"Accept-Encoding": "gzip;q=0"}).headers


# --- real processes: debug stays off, logs are JSON -------------------------------------------

@pytest.mark.server
def test_python_m_app_never_debugs_unless_linewatch_debug_and_logs_json(start_server):
    loud = {"DASH_DEBUG": "true", "FLASK_DEBUG": "1", "DASH_UI": "true", "DASH_HOT_RELOAD": "true",
            "DASH_DEV_TOOLS_UI": "true", "LINEWATCH_LOG_FORMAT": "json"}
    production = start_server(loud, wait=False)
    debugging = start_server({**loud, "LINEWATCH_DEBUG": "1", "LINEWATCH_LOG_FORMAT": "text"}, wait=False)
    production.wait_ready()
    debugging.wait_ready()

    def config_of(server):
        page = urllib.request.urlopen(server.url + "/", timeout=5).read().decode()
        return json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page).group(1))

    assert config_of(production)["ui"] is False and "hot_reload" not in config_of(production)
    assert config_of(debugging)["ui"] is True  # the switch works, so the check above means something
    bad = urllib.request.Request(production.url + "/_dash-update-component", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=5)
    assert refused.value.code == 400 and "not a valid callback request" in json.loads(refused.value.read())["error"]
    assert production.stop() == 0
    lines = [json.loads(line) for line in production.log_path.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    assert not any(entry["level"] == "ERROR" or "exception" in entry for entry in lines)  # a refusal, not a failure


@pytest.mark.server
def test_gunicorn_from_the_procfile_logs_json_lines_and_stops_on_sigterm(start_server):
    server = start_server({"LINEWATCH_LOG_FORMAT": "json"}, argv=procfile_web_argv() + ["--access-logfile", "-"])
    urllib.request.urlopen(server.url + "/healthz", timeout=5).read()
    assert server.stop(signal.SIGTERM) == 0
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.strip()]
    loggers = {entry["logger"] for entry in lines}
    assert {"gunicorn.error", "gunicorn.access", "app.runtime"} <= loggers
    access = next(entry for entry in lines if entry["logger"] == "gunicorn.access")
    assert access["path"] == "/healthz" and access["status"] == 200 and access["duration_ms"] >= 0


@pytest.mark.server  # gunicorn starts with the app, and refuses
def test_gunicorn_refuses_several_workers_with_the_in_memory_store(tmp_path):
    argv = [a.replace("{port}", "0") for a in procfile_web_argv()] + ["--workers", "2"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "LINEWATCH_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "LINEWATCH_STORE=memory keeps the points inside one process" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
