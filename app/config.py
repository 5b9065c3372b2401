"""LineWatch configuration: one frozen object built from an injectable environment mapping.

Every setting comes from a ``LINEWATCH_*`` variable; CLI flags arrive as ``overrides``
(already in environment form) and win.  A bad value raises :class:`ConfigError` whose
message is one line naming the variable, so start-up fails fast and clearly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from app.alarm_lifecycle import DEFAULT_SHELVE_MAX_MINUTES, AlarmDesign
from app.detectors import LineDetector
from app.lines import LinesFileError, LineSpec, load_lines

PREFIX = "LINEWATCH_"
SOURCES = ("simulator", "mqtt", "http", "replay")
STORES = ("memory", "redis")
LANGS = ("auto", "zh", "en")
AUTH_MODES = ("none", "basic", "header")
LOG_FORMATS = ("text", "json")
TRANSPORTS = ("polling", "websocket", "push")
ASGI_TRANSPORTS = ("websocket", "push")  # served by app.asgi:application (gunicorn's uvicorn worker)
PERIODS = (0.5, 1.0, 2.0, 5.0)
MAX_WINDOW = 100_000


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Config:
    """Settings for one LineWatch deployment (see README for each variable)."""

    host: str = "127.0.0.1"
    port: int = 8050
    source: str = "simulator"
    store: str = "memory"
    data_dir: Path = Path("linewatch-data")
    window: int = 1000
    url_prefix: str = "/"
    lang: str = "auto"
    prob_threshold: float = 0.5
    value_threshold: float = 0.5  # in the line's unit, for lines without their own (lines file)
    period: float = 1.0
    sim_rate: float = 5.0
    debug: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    history_url: str = field(default="", repr=False)  # postgresql://user@host/db ("": SQLite in data_dir)
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_topic: str = "linewatch/points"
    ingest_token: str = ""
    replay_file: Path | None = None
    replay_speed: float = 1.0
    replay_loop: bool = False
    retention_days: float = 30.0
    retention_points: int = 10_000_000
    frame_ancestors: str = "'self'"
    trusted_proxies: int = 0
    trusted_proxy_ips: str = "127.0.0.1/8,::1"
    auth: str = "none"
    auth_users_file: Path | None = None
    auth_header: str = "X-Forwarded-User"
    log_format: str = "text"
    transport: str = "polling"
    alarm_operators: tuple[str, ...] = ()  # who may acknowledge and shelve (empty: every signed-in user)
    shelve_max_minutes: float = DEFAULT_SHELVE_MAX_MINUTES  # the longest an operator may shelve an alarm
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_priorities: tuple[int, ...] = (1, 2, 3, 4)
    lines_file: Path | None = None
    lines: tuple[LineSpec, ...] = ()  # from lines_file
    replay_columns: tuple[tuple[str, str], ...] = ()  # from lines_file: (LineWatch's column, the file's)

    def line(self, line_id: str) -> LineSpec:
        """The line's settings: from the lines file, or the defaults (its id as name, no unit)."""
        return next((spec for spec in self.lines if spec.id == line_id), LineSpec(line_id))

    def detector_for(self, line_id: str) -> LineDetector:
        """A new detector for the line: its settings with this deployment's thresholds."""
        return LineDetector(self.line(line_id).detector_config(self.prob_threshold, self.value_threshold))

    def alarm_design(self, line_id: str, rule: str) -> AlarmDesign:
        """How a rule's alarms behave on the line (priority, re-alarm, mode): from the lines file, else the defaults."""
        return self.line(line_id).alarm_design(rule)

    @property
    def capacity(self) -> int:
        """Points the store keeps: enough for the largest window a viewer may pick."""
        return MAX_WINDOW

    @classmethod
    def from_env(cls, environ: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> "Config":
        """Build a config from ``environ`` (e.g. ``os.environ``) with ``overrides`` on top."""
        merged = {**environ, **(overrides or {})}
        values = {}
        for field_name, parse in _PARSERS.items():
            key = PREFIX + field_name.upper()
            raw = merged.get(key)
            if raw is None or raw == "":
                continue
            try:
                values[field_name] = parse(raw.strip())
            except ValueError as exc:
                shown = redact_url(raw) if field_name == "history_url" else raw
                raise ConfigError(f"{key}={shown!r}: {exc}") from None
        if values.get("lines_file") is not None:
            try:
                values["lines"], values["replay_columns"] = load_lines(values["lines_file"])
            except LinesFileError as exc:
                raise ConfigError(f"{PREFIX}LINES_FILE={str(values['lines_file'])!r}: {exc}") from None
        config = cls(**values)
        config._check()
        return config

    def _check(self) -> None:
        """Rules that join several settings."""
        if self.source == "replay" and (self.replay_file is None or not self.replay_file.is_file()):
            raise ConfigError(f"LINEWATCH_REPLAY_FILE={str(self.replay_file or '')!r}: "
                              "LINEWATCH_SOURCE=replay needs an existing CSV or Parquet file")
        if self.auth == "basic" and (self.auth_users_file is None or not self.auth_users_file.is_file()):
            raise ConfigError(f"LINEWATCH_AUTH_USERS_FILE={str(self.auth_users_file or '')!r}: "
                              "LINEWATCH_AUTH=basic needs an existing users file")
        if self.auth == "header" and not self.trusted_proxies:
            raise ConfigError("LINEWATCH_AUTH='header': trusting a user header needs LINEWATCH_TRUSTED_PROXIES")


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _float_range(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if not low <= value <= high:  # also rejects NaN
            raise ValueError(f"must be between {low:,.12g} and {high:,.12g}")
        return value

    return parse


def _period(raw: str) -> float:
    value = _float_range(0.5, 5.0)(raw)
    if value not in PERIODS:
        raise ValueError(f"must be one of {', '.join(f'{p:g}' for p in PERIODS)} (seconds)")
    return value


def _url_prefix(raw: str) -> str:
    if not raw.startswith("/") or " " in raw or "//" in raw:
        raise ValueError("must be a path starting with '/', e.g. /tools/linewatch/")
    return raw if raw.endswith("/") else raw + "/"


def _mqtt_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("must look like mqtt://user:pass@host:1883 or mqtts://host:8883")
    try:
        parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return raw


def _redis_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ValueError("must look like redis://host:6379/0 (or rediss://, unix://)")
    return raw


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs, errors and /readyz)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _history_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.hostname or "host=" in parts.query):
        raise ValueError("must look like postgresql://user@host:5432/linewatch (empty: SQLite in the data dir)")
    try:
        parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return raw


def _networks(raw: str) -> str:
    try:
        networks = [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError:
        networks = []
    if not networks:
        raise ValueError("must be IP addresses or networks separated by commas, e.g. 10.0.0.5,192.168.1.0/24")
    return raw


def _webhook_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return raw


def _priorities(raw: str) -> tuple[int, ...]:
    try:
        chosen = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        raise ValueError("must be alarm priorities from 1 to 4, comma-separated (e.g. 1,2)") from None
    if not chosen or not set(chosen) <= {1, 2, 3, 4}:
        raise ValueError("must be alarm priorities from 1 to 4, comma-separated (e.g. 1,2)")
    return chosen


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1 or 0")


_PARSERS: dict[str, Callable[[str], object]] = {
    "host": str,
    "port": _int_range(1, 65535),
    "source": _choice(SOURCES),
    "store": _choice(STORES),
    "data_dir": Path,
    "window": _int_range(10, MAX_WINDOW),
    "url_prefix": _url_prefix,
    "lang": _choice(LANGS),
    "prob_threshold": _float_range(0.0, 1.0),
    "value_threshold": _float_range(-1e15, 1e15),
    "period": _period,
    "sim_rate": _float_range(0.1, 10_000.0),
    "debug": _flag,
    "redis_url": _redis_url,
    "history_url": _history_url,
    "mqtt_url": _mqtt_url,
    "mqtt_topic": str,
    "ingest_token": str,
    "replay_file": Path,
    "replay_speed": _float_range(0.01, 1_000_000.0),
    "replay_loop": _flag,
    "retention_days": _float_range(0.001, 36_500.0),
    "retention_points": _int_range(MAX_WINDOW, 10**10),
    "frame_ancestors": str,
    "trusted_proxies": _int_range(0, 10),
    "trusted_proxy_ips": _networks,
    "auth": _choice(AUTH_MODES),
    "auth_users_file": Path,
    "auth_header": str,
    "shelve_max_minutes": _float_range(1.0, 7 * 24 * 60.0),
    "webhook_url": _webhook_url,
    "webhook_secret": str,
    "webhook_priorities": _priorities,
    "alarm_operators": lambda raw: tuple(sorted({name.strip() for name in raw.split(",") if name.strip()})),
    "log_format": _choice(LOG_FORMATS),
    "transport": _choice(TRANSPORTS),
    "lines_file": Path,
}
