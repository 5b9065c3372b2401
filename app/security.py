"""Secure defaults for every LineWatch response, installed by ``create_app``.

- Headers: a Content-Security-Policy on pages (Dash's inline scripts allowed by their
  hashes, ``frame-ancestors`` from ``LINEWATCH_FRAME_ANCESTORS``), ``X-Frame-Options`` only
  where it says the same thing, ``Referrer-Policy``, and ``X-Content-Type-Options: nosniff``
  on everything.
- Viewer access control (``LINEWATCH_AUTH``): ``basic`` against a users file of
  ``user:hash`` lines, or ``header``: a user name set by a trusted reverse proxy.
  /healthz, /readyz and POST /api/v1/points (its own bearer token) stay outside it.
- Reverse proxies: ``X-Forwarded-For/Proto/Host/Port/Prefix`` are honoured (werkzeug
  ProxyFix, ``LINEWATCH_TRUSTED_PROXIES`` hops) only when that is set and the request
  comes from a trusted proxy address; otherwise they are ignored.
- URL prefix: the app answers under ``LINEWATCH_URL_PREFIX`` whether the proxy in front
  (or a DispatcherMiddleware mount) strips the prefix or keeps it.
- Request bodies above 1 MiB are refused with 413; server errors answer a short JSON
  message, never a stack trace.

When LineWatch is mounted on someone else's Flask app (``create_app(config, server=...)``),
all of this applies to the paths under the prefix only, and the host app's WSGI pipeline
(its own ProxyFix, if any) is left alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import threading
from pathlib import Path

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash

from app.api import MAX_BODY_BYTES
from app.config import Config, ConfigError

log = logging.getLogger(__name__)

# The immediate peers allowed to speak for a client (forwarded headers, the user header):
# the same host by default.  See README "Behind a reverse proxy" for other addresses.
DEFAULT_PROXY_NETWORKS = "127.0.0.1/8,::1"
REFERRER_POLICY = "same-origin"  # no URL (nor its query) leaves for another origin
AUTH_CACHE_SIZE = 1024
REALM = "LineWatch"

# Content-Security-Policy of the page, one source list per directive and why (README "Security").
CSP_BASE = {
    "default-src": ["'self'"],
    # Dash's bundles and assets/*.js from the app itself; Dash's inline scripts (the
    # renderer start-up and inline clientside callbacks) by hash, added at first request.
    "script-src": ["'self'"],
    # plotly.js and dash-ag-grid write style attributes and <style> elements at run time.
    "style-src": ["'self'", "'unsafe-inline'"],
    # Bootstrap's form controls (the theme switch) draw with data: SVG images.
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],  # callbacks and the API, same origin
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}

_SOURCE = re.compile(r"^(?:'self'|'none'|\*|[a-z][a-z0-9+.-]*:|"
                     r"(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?[a-z0-9.-]+(?::(?:\d{1,5}|\*))?(?:/[^\s;,']*)?)$",
                     re.IGNORECASE)


def frame_ancestors_sources(raw: str) -> list[str]:
    """The ``frame-ancestors`` source list, checked so it cannot smuggle another directive."""
    sources = raw.split()
    bad = next((s for s in sources if not _SOURCE.match(s)), None)
    if not sources or bad is not None or ("'none'" in sources and len(sources) > 1):
        raise ConfigError(f"LINEWATCH_FRAME_ANCESTORS={raw!r}: must be 'none', or 'self' and/or origins "
                          "separated by spaces, e.g. 'self' https://portal.example.com")
    return sources


def frame_options(sources: list[str]) -> str | None:
    """X-Frame-Options, only where it means the same as frame-ancestors (it has no allow-list)."""
    if sources == ["'self'"]:
        return "SAMEORIGIN"
    if sources == ["'none'"]:
        return "DENY"
    return None


def content_security_policy(script_hashes: list[str], frame_ancestors: list[str]) -> str:
    directives = {**CSP_BASE, "script-src": CSP_BASE["script-src"] + script_hashes,
                  "frame-ancestors": frame_ancestors}
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def proxy_networks(config: Config) -> list:
    raw = getattr(config, "trusted_proxy_ips", None) or DEFAULT_PROXY_NETWORKS
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"LINEWATCH_TRUSTED_PROXY_IPS={raw!r}: {exc}") from None


def peer_address(environ) -> str:
    """The address that opened the connection, before any ProxyFix rewrote REMOTE_ADDR."""
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    return original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR") or ""


def is_trusted_peer(environ, networks) -> bool:
    try:
        address = ipaddress.ip_address(peer_address(environ).split("%")[0])
    except ValueError:  # a unix socket has no address: the proxy is on this host
        return not peer_address(environ)
    address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:127.0.0.1 from a dual-stack socket
    return any(address in network for network in networks)


class PrefixPaths:
    """WSGI middleware: every path lives under ``prefix``, whichever way requests arrive.

    A proxy that keeps the prefix sends ``/tools/linewatch/x``; one that strips it sends
    ``/x`` (perhaps with ``X-Forwarded-Prefix``, which ProxyFix turns into SCRIPT_NAME);
    DispatcherMiddleware sets SCRIPT_NAME to its mount point.  All become PATH_INFO
    ``/tools/linewatch/x`` with an empty SCRIPT_NAME, the paths Dash's routes and the
    browser's URLs (``requests_pathname_prefix``) use.
    """

    def __init__(self, app, prefix: str) -> None:
        self.app = app
        self.prefix = prefix  # with its trailing slash
        self.bare = prefix.rstrip("/")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        script = environ.get("SCRIPT_NAME", "")
        if not (path.startswith(self.prefix) or path == self.bare):
            joined = (script.rstrip("/") + path) or "/"  # "/linewatch" alone: Flask redirects it to "/linewatch/"
            path = joined if joined.startswith(self.prefix) or joined == self.bare else self.bare + joined
        environ["PATH_INFO"], environ["SCRIPT_NAME"] = path, ""
        return self.app(environ, start_response)


class TrustedProxies:
    """WSGI middleware: ProxyFix for requests from a trusted proxy address, nothing for others."""

    def __init__(self, app, hops: int, networks) -> None:
        self.plain = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
        self.networks = networks

    def __call__(self, environ, start_response):
        if is_trusted_peer(environ, self.networks):
            return self.fixed(environ, start_response)
        return self.plain(environ, start_response)


class BasicUsers:
    """The users file: one ``user:hash`` per line (werkzeug.security hashes), ``#`` comments."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hashes: dict[str, str] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, pw_hash = line.partition(":")
            if not sep or not user or pw_hash.count("$") != 2:
                raise ConfigError(f"LINEWATCH_AUTH_USERS_FILE={str(path)!r}: line {number} is not "
                                  "user:hash (make a hash with werkzeug.security.generate_password_hash)")
            self.hashes[user] = pw_hash
        if not self.hashes:
            raise ConfigError(f"LINEWATCH_AUTH_USERS_FILE={str(path)!r}: no users")
        self._dummy = next(iter(self.hashes.values()))
        # A password hash costs ~0.1 s of CPU on purpose (scrypt); a browser sends the same
        # credentials with every tick, so verified ones are remembered (salted digests).
        self._salt = os.urandom(16)
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, username: str, password: str) -> bool:
        digest = hashlib.sha256(self._salt + username.encode() + b"\0" + password.encode()).digest()
        if digest in self._verified:
            return True
        known = self.hashes.get(username)
        ok = check_password_hash(known or self._dummy, password) and known is not None
        if ok:
            with self._lock:
                if len(self._verified) >= AUTH_CACHE_SIZE:
                    self._verified.clear()
                self._verified.add(digest)
        return ok


def install(server: Flask, dash_app, config: Config, owns_server: bool) -> None:
    """Add headers, auth, limits and error handlers to ``server`` for LineWatch's paths."""
    prefix = config.url_prefix
    ancestors = frame_ancestors_sources(config.frame_ancestors)
    x_frame = frame_options(ancestors)
    networks = proxy_networks(config)
    users = BasicUsers(config.auth_users_file) if config.auth == "basic" else None
    open_paths = {prefix + "healthz", prefix + "readyz"}
    ingest_path = prefix + "api/v1/points"
    policy: list[str] = []  # built at the first page, once every inline callback is registered

    if owns_server:
        server.wsgi_app = PrefixPaths(server.wsgi_app, prefix) if prefix != "/" else server.wsgi_app
        if config.trusted_proxies:
            server.wsgi_app = TrustedProxies(server.wsgi_app, config.trusted_proxies, networks)

    def ours() -> bool:
        return owns_server or request.path.startswith(prefix)

    def authenticate() -> str | None:
        if config.auth == "basic":
            auth = request.authorization
            if auth and auth.type == "basic" and auth.username and users.check(auth.username, auth.password or ""):
                return auth.username
            return None
        if config.auth == "header" and is_trusted_peer(request.environ, networks):
            return request.headers.get(config.auth_header, "").strip() or None
        return None

    @server.before_request
    def guard():
        if not ours():
            return None
        request.max_content_length = MAX_BODY_BYTES
        if config.auth == "none" or request.path in open_paths or (
                request.path == ingest_path and request.method == "POST"):
            return None
        user = authenticate()
        if user is None:
            response = jsonify(error="authentication required")
            response.status_code = 401
            if config.auth == "basic":
                response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
            return response
        g.linewatch_user = user
        return None

    @server.after_request
    def headers(response):
        if not ours():
            return response
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        if headers.get("Content-Type", "").startswith("text/html"):
            if not policy:
                policy.append(content_security_policy(dash_app.csp_hashes(), ancestors))
            headers["Content-Security-Policy"] = policy[0]
            headers["Referrer-Policy"] = REFERRER_POLICY
            if x_frame:
                headers["X-Frame-Options"] = x_frame
        return response

    def chain(exc_class, handler):
        """Register ``handler`` for LineWatch's paths; the host app's own handler keeps the rest."""
        previous = server.error_handler_spec.get(None, {}).get(exc_class.code, {}).get(exc_class)

        def handle(exc):
            if ours():
                return handler(exc)
            return previous(exc) if previous is not None else exc  # the host app's default page

        server.register_error_handler(exc_class, handle)

    def too_large(_exc):
        return jsonify(error=f"request body larger than {MAX_BODY_BYTES} bytes"), 413

    def server_error(_exc):
        # Flask has logged the exception with its traceback; the client gets none of it.
        return jsonify(error="internal server error"), 500

    chain(RequestEntityTooLarge, too_large)
    chain(InternalServerError, server_error)
