"""LineWatch's one HTTP policy, for every transport: plain decisions from method, path, headers and peer.

app/policy_wsgi.py (HTTP polling, gunicorn or a host Flask app) and app/policy_asgi.py (the
WebSocket transport) apply it.  It decides where paths live (``LINEWATCH_URL_PREFIX``, however a
proxy or mount sends them), what a proxy may say (``X-Forwarded-*`` from trusted peers only), who
may see the dashboard and write (``LINEWATCH_AUTH``; health and readiness stay open; ingest needs
its bearer token when ``LINEWATCH_INGEST_TOKEN`` is set, else a signed-in viewer), how often a
client address or user name may fail to sign in, the 1 MiB body limit, the headers of every answer
(CSP, frame options, nosniff, referrer policy, the ``?lang=`` cookie), what is gzipped, which Dash
callback requests reach Dash (well-formed ones for a server callback), which addresses are pages
(``route``; any other address but the app's own answers 404, and so does a line's page until the line
is in the lines file or has readings), and the viewer key of the tick metrics.  README "Security" says why.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import parse_qs

from werkzeug.datastructures import Authorization
from werkzeug.http import dump_cookie
from werkzeug.security import check_password_hash

from app.config import Config, ConfigError
from app.i18n import LANG_COOKIE, LANG_COOKIE_AGE_S, TEXT
from app.readings import LINE_ID

MAX_BODY_BYTES = 1 << 20
GZIP_MIN_SIZE = 1024  # a 1-point tick (~130 B) is not compressed: it would only grow
GZIP_LEVEL = 6
GZIP_TYPES = frozenset({"text/html", "text/css", "text/javascript", "text/plain", "text/csv", "application/javascript",
                        "application/json", "image/svg+xml", "image/x-icon",
                        ""})  # "": Dash's FastAPI backend answers callbacks (JSON) without a Content-Type
REFERRER_POLICY = "same-origin"  # no URL (nor its query) leaves for another origin
AUTH_CACHE_SIZE = 1024
LOGIN_FAILURES, LOGIN_WINDOW_S = 5, 60.0  # failed logins per client address and per user name, per window
LOGIN_KEYS = 10_000  # addresses and user names the login limiter remembers
REALM = "LineWatch"

# Content-Security-Policy of the page, one source list per directive and why (README "Security").
CSP_BASE = {
    "default-src": ["'self'"],
    # Dash's bundles and assets/*.js from the app itself; Dash's inline scripts (the
    # renderer start-up and inline clientside callbacks) by hash, added at the first page.
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

# werkzeug.security's hashes: method[:arguments]$salt$hexdigest
_PASSWORD_HASH = re.compile(r"(?:scrypt(?::(\d{1,9}):(\d{1,4}):(\d{1,4}))?|pbkdf2(?::([\w-]+)(?::(\d{1,9}))?)?)"
                            r"\$[^$\s]+\$[0-9a-f]+")


@dataclass(frozen=True)
class Refusal:
    """An answer the policy gives instead of the app: JSON ``{"error": message}``."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


TOO_LARGE = Refusal(413, f"request body larger than {MAX_BODY_BYTES} bytes")
CALLBACK_PATH = "_dash-update-component"  # Dash's callback requests over HTTP, under the prefix
LINE_PATH = "line/"  # a line's page: <prefix>line/<id>
# The app's own addresses under the prefix that are not pages: Dash's routes and assets, the HTTP
# API, health, readiness and metrics.  Any other address is no page: 404 (``page_status``).
APP_PATH = re.compile(r"(?:assets/|_dash-|api/).*|_favicon\.ico|_reload-hash|healthz|readyz|metrics", re.DOTALL)
OVERVIEW = ""  # route()'s answer for the overview
SERVER_ERROR = Refusal(500, "internal server error")  # the traceback stays in the log


def route(pathname: str | None, prefix: str) -> str | None:
    """The line id an address shows, OVERVIEW for ``/``, or None when it names no page."""
    path = (pathname or prefix).rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix):].rstrip("/")
    if rest == "":
        return OVERVIEW
    if rest.startswith(LINE_PATH) and LINE_ID.fullmatch(rest[len(LINE_PATH):]):
        return rest[len(LINE_PATH):]
    return None


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
    return {("'self'",): "SAMEORIGIN", ("'none'",): "DENY"}.get(tuple(sources))


def content_security_policy(script_hashes: list[str], frame_ancestors: list[str]) -> str:
    directives = {**CSP_BASE, "script-src": CSP_BASE["script-src"] + script_hashes,
                  "frame-ancestors": frame_ancestors}
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def proxy_networks(config: Config) -> list:
    """The immediate peers allowed to speak for a client (forwarded headers, the user header)."""
    raw = config.trusted_proxy_ips
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"LINEWATCH_TRUSTED_PROXY_IPS={raw!r}: {exc}") from None


def is_trusted(peer: str, networks) -> bool:
    """Whether the address that opened the connection may speak for a client."""
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:  # a unix socket has no address: the proxy is on this host
        return not peer
    address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:127.0.0.1 from a dual-stack socket
    return any(address in network for network in networks)


def viewer_key(address: str | None, user_agent: str | None) -> str:
    """One browser for the tick metrics: client address + User-Agent (README "Metrics")."""
    return f"{address or ''}|{user_agent or ''}"


def accepts_gzip(accept_encoding: str | None) -> bool:
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _hop(value: str | None, hops: int) -> str | None:
    """The value the ``hops``-th proxy from us saw (werkzeug ProxyFix's rule)."""
    values = [part.strip() for part in (value or "").split(",") if part.strip()]
    return values[-hops] if len(values) >= hops else None


def is_password_hash(text: str) -> bool:
    """Whether werkzeug.security can check a password against ``text``: a method it knows with
    arguments it takes, a salt and a hex digest (anything else would fail at every login)."""
    match = _PASSWORD_HASH.fullmatch(text)
    if match is None:
        return False
    n, r, p, digest, iterations = match.groups()
    if n is not None and not (int(n) > 1 and int(n) & (int(n) - 1) == 0 and int(r) > 0 and int(p) > 0):
        return False  # scrypt's n is a power of 2
    return (digest is None or digest in hashlib.algorithms_available) and (iterations is None or int(iterations) > 0)


def callback_problem(body: bytes, callbacks: Mapping) -> str | None:
    """Why ``body`` is not a request Dash can run for one of ``callbacks`` (its callback map), or None.

    Dash reads such a request without checking it: a wrong shape would fail inside Dash, a 500."""
    try:
        asked = json.loads(body)
    except (ValueError, RecursionError):  # a UnicodeDecodeError is a ValueError
        return "the body is not JSON"
    if not isinstance(asked, dict) or not isinstance(asked.get("output"), str):
        return "a callback request is a JSON object naming its output"
    callback = callbacks.get(asked["output"])
    if callback is None or "callback" not in callback:  # clientside callbacks run in the browser only
        return "no server callback has that output"
    for key in ("inputs", "state"):
        if not _props(asked.get(key, []), len(callback.get(key, []))):
            return f"{key} must hold one {{id, property, value}} for each of the callback's {key}"
    indices = callback.get("outputs_indices", 0)
    outputs = asked.get("outputs")
    if isinstance(indices, int):  # one output: a list only for a pattern id (``{"type": ..., "index": ALL}``)
        outputs = [outputs] if isinstance(outputs, dict) or asked["output"].startswith("{") else None
    if not callback.get("no_output") and not _props(outputs, _leaves(indices)):
        return "outputs must hold one {id, property} for each of the callback's outputs"
    changed = asked.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(prop_id, str) for prop_id in changed):
        return "changedPropIds must be a list of strings"
    return None


def _prop(item) -> bool:
    """A component property as Dash sends it: ``{"id": ..., "property": ...}``."""
    return isinstance(item, dict) and isinstance(item.get("id"), (str, dict)) and isinstance(item.get("property"), str)


def _props(items, count: int) -> bool:
    """``count`` properties, each one or (for a pattern id) a list of them."""
    return isinstance(items, list) and len(items) == count and all(
        _prop(item) or (isinstance(item, list) and all(_prop(part) for part in item)) for item in items)


def _leaves(grouping) -> int:
    """How many outputs a callback's (possibly nested) output grouping holds."""
    if isinstance(grouping, dict):
        grouping = list(grouping.values())
    return sum(_leaves(part) for part in grouping) if isinstance(grouping, (list, tuple)) else 1


class NotAnOperator(PermissionError):
    """The signed-in user may view but not act on alarms (the API's 403)."""


def alarm_actor(config: Config, environ: Mapping) -> str:
    """Who acts on an alarm in this request (``environ``: the WSGI environ the policy signed in).

    "anonymous" when LINEWATCH_AUTH=none; else the signed-in user, who must be one of
    LINEWATCH_ALARM_OPERATORS when that is set (NotAnOperator otherwise, also for a request
    that only carries the ingest token)."""
    if config.auth == "none":
        return "anonymous"
    user = environ.get("linewatch.user")
    if not user:
        raise NotAnOperator("acting on alarms needs a signed-in user")
    if config.alarm_operators and user not in config.alarm_operators:
        raise NotAnOperator(f"{user} may view alarms but not act on them (LINEWATCH_ALARM_OPERATORS)")
    return user


class BasicUsers:
    """The users file: one ``user:hash`` per line (werkzeug.security hashes), ``#`` comments."""

    def __init__(self, path: Path) -> None:
        self.hashes: dict[str, str] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, pw_hash = line.partition(":")
            if not sep or not user or not is_password_hash(pw_hash):
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

    def remembers(self, username: str, password: str) -> bool:
        """Whether these credentials were verified before (no hash to compute)."""
        return self._digest(username, password) in self._verified

    def check(self, username: str, password: str) -> bool:
        digest = self._digest(username, password)
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

    def _digest(self, username: str, password: str) -> bytes:
        return hashlib.sha256(self._salt + username.encode() + b"\0" + password.encode()).digest()


class LoginLimiter:
    """Failed logins per key (a client address, a user name) in a sliding window: once ``limit``
    failures fall within ``window_s`` seconds, the key waits until the oldest leaves the window.
    At most ``max_keys`` keys are kept, the one that failed least recently going first."""

    def __init__(self, limit: int = LOGIN_FAILURES, window_s: float = LOGIN_WINDOW_S, max_keys: int = LOGIN_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.max_keys, self.clock = limit, window_s, max_keys, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # each key's last ``limit`` failure times
        self._lock = threading.Lock()

    def wait(self, keys) -> int:
        """Whole seconds until every one of ``keys`` may try again (0: now)."""
        now = self.clock()
        with self._lock:
            times = [self._failures.get(key) for key in keys]
        oldest = [t[0] for t in times if t is not None and len(t) == self.limit]
        return max([math.ceil(first + self.window_s - now) for first in oldest] + [0])

    def failed(self, keys) -> None:
        """Count a failed login against each of ``keys``."""
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._failures.pop(key, None) or deque(maxlen=self.limit)
                times.append(now)
                self._failures[key] = times
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)


def too_many_logins(wait_s: int) -> Refusal:
    return Refusal(429, f"too many failed sign-ins: try again in {wait_s} s", (("Retry-After", str(wait_s)),))


class Policy:
    """The policy of one app.  ``headers`` arguments are any case-insensitive mapping
    (werkzeug's EnvironHeaders, starlette's Headers); ``peer`` is the connection's address.
    ``has_line(id)``: whether a line is in the lines file or has readings (its page exists)."""

    def __init__(self, config: Config, script_hashes: Callable[[], list[str]], callbacks: Mapping,
                 has_line: Callable[[str], bool]) -> None:
        self.config = config
        self.has_line = has_line
        self.prefix = config.url_prefix  # with its trailing slash
        self.bare = self.prefix.rstrip("/")
        self.ancestors = frame_ancestors_sources(config.frame_ancestors)
        self.x_frame = frame_options(self.ancestors)
        self.networks = proxy_networks(config)
        self.users = BasicUsers(config.auth_users_file) if config.auth == "basic" else None
        self.logins = LoginLimiter()
        self.open_paths = {self.prefix + "healthz", self.prefix + "readyz"}
        self.ingest_path = self.prefix + "api/v1/points"
        self.callback_path = self.prefix + CALLBACK_PATH
        self.callbacks = callbacks  # Dash's callback map, filled as callbacks are registered
        self._script_hashes = script_hashes
        self._csp: str | None = None  # built at the first page, once every inline script is known

    def in_scope(self, path: str) -> bool:
        """LineWatch's own path (on a host app, the others are the host's)."""
        return path.startswith(self.prefix) or path == self.bare

    def path(self, path: str, mount: str = "") -> tuple[str, str]:
        """(path, mount) with every path under the prefix and no mount point left over.

        A proxy that keeps the prefix sends ``/tools/linewatch/x``; one that strips it sends
        ``/x``; a mount (DispatcherMiddleware's SCRIPT_NAME, ASGI root_path) names it apart.
        All become ``/tools/linewatch/x``, the paths Dash's routes and the browser's URLs use.
        """
        if self.prefix == "/":
            return path, mount
        if not self.in_scope(path):
            joined = (mount.rstrip("/") + path) or "/"  # "/linewatch" alone: redirected to "/linewatch/"
            path = joined if self.in_scope(joined) else self.bare + joined
        return path, ""

    def forwarded(self, peer: str, headers: Mapping) -> dict[str, str]:
        """What a trusted proxy says of the request: ``client``, ``scheme``, ``host`` (those it set)."""
        hops = self.config.trusted_proxies
        if not hops or not is_trusted(peer, self.networks):
            return {}
        seen = {"client": _hop(headers.get("x-forwarded-for"), hops),
                "scheme": _hop(headers.get("x-forwarded-proto"), hops),
                "host": _hop(headers.get("x-forwarded-host"), hops)}
        port = _hop(headers.get("x-forwarded-port"), hops)
        if port:
            host = seen["host"] or headers.get("host") or ""
            seen["host"] = f"{host.rsplit(':', 1)[0] if host.count(':') == 1 else host}:{port}"
        if seen["scheme"] not in ("http", "https"):
            seen["scheme"] = None
        return {key: value for key, value in seen.items() if value}

    def check(self, method: str, path: str, headers: Mapping, peer: str) -> tuple[str | None, Refusal | None]:
        """(the viewer's user name, or a refusal) for a request to ``path``."""
        length = headers.get("content-length") or ""
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return None, TOO_LARGE
        if self.config.auth == "none" or path in self.open_paths or self._token_ingest(method, path):
            return None, None
        if self.users is not None:
            return self._basic(headers, peer)
        user = self._header_user(headers, peer)
        return (user, None) if user is not None else (None, Refusal(401, "authentication required"))

    def client(self, peer: str, headers: Mapping) -> str:
        """The client's address: what a trusted proxy says, else the peer's."""
        return self.forwarded(peer, headers).get("client") or peer

    def page_status(self, method: str, path: str) -> int | None:
        """404 for loading an address that is no page (neither ``route``'s nor one of APP_PATH) or the
        page of a line that does not exist (yet), else None: Dash answers every path it does not route
        with its page and 200, and the page then says there is no such line (callbacks/pages.py)."""
        if method not in ("GET", "HEAD") or not path.startswith(self.prefix):
            return None
        if APP_PATH.fullmatch(path[len(self.prefix):]):
            return None
        line = route(path, self.prefix)
        return 404 if line is None or (line != OVERVIEW and not self.has_line(line)) else None

    def is_callback(self, method: str, path: str) -> bool:
        """A Dash callback request over HTTP: its body is checked (``callback_refusal``) before Dash reads it."""
        return method == "POST" and path == self.callback_path

    def callback_refusal(self, body: bytes) -> Refusal | None:
        problem = callback_problem(body, self.callbacks)
        return None if problem is None else Refusal(400, f"not a valid callback request: {problem}")

    def _token_ingest(self, method: str, path: str) -> bool:
        """A write that the ingest bearer token guards instead of a viewer (app/api.py checks it)."""
        return method == "POST" and path == self.ingest_path and bool(self.config.ingest_token)

    def _basic(self, headers: Mapping, peer: str) -> tuple[str | None, Refusal | None]:
        """(user, None) for credentials in the users file; remembered ones pass at once, others only
        while neither their client address nor their user name has too many recent failures."""
        auth = Authorization.from_header(headers.get("authorization"))
        if auth and auth.type == "basic" and auth.username:
            user, password = auth.username, auth.password or ""
            if self.users.remembers(user, password):
                return user, None
            keys = (f"client {self.client(peer, headers)}", f"user {user}")
            wait_s = self.logins.wait(keys)
            if wait_s:
                return None, too_many_logins(wait_s)
            if self.users.check(user, password):
                return user, None
            self.logins.failed(keys)
        return None, Refusal(401, "authentication required",
                             (("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),))

    def _header_user(self, headers: Mapping, peer: str) -> str | None:
        if self.config.auth == "header" and is_trusted(peer, self.networks):
            return headers.get(self.config.auth_header, "").strip() or None
        return None

    def response_headers(self, content_type: str | None, query: str) -> list[tuple[str, str]]:
        """Headers to set on an answer of ``content_type`` to a request with ``query`` (its query string).

        ``?lang=`` on the page sticks (a cookie), since Dash fetches the layout separately.
        """
        headers = [("X-Content-Type-Options", "nosniff")]
        if (content_type or "").startswith("text/html"):
            if self._csp is None:
                self._csp = content_security_policy(self._script_hashes(), self.ancestors)
            headers += [("Content-Security-Policy", self._csp), ("Referrer-Policy", REFERRER_POLICY)]
            if self.x_frame:
                headers.append(("X-Frame-Options", self.x_frame))
        lang = (parse_qs(query).get("lang") or [None])[0] if "lang=" in query else None
        if lang in TEXT:
            headers.append(("Set-Cookie", dump_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_AGE_S,
                                                      path=self.prefix, samesite="Lax")))
        return headers

