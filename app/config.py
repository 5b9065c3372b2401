"""LineWatch configuration: one frozen object built from an injectable environment mapping.

Every setting comes from a ``LINEWATCH_*`` variable; CLI flags arrive as ``overrides``
(already in environment form) and win.  A bad value raises :class:`ConfigError` whose
message is one line naming the variable, so start-up fails fast and clearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

PREFIX = "LINEWATCH_"
SOURCES = ("simulator",)
STORES = ("memory",)
LANGS = ("auto", "zh", "en")
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
    value_threshold: int = 50
    period: float = 1.0
    sim_rate: float = 5.0
    debug: bool = False

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
                raise ConfigError(f"{key}={raw!r}: {exc}") from None
        return cls(**values)


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
            raise ValueError(f"must be between {low:g} and {high:g}")
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
    "value_threshold": _int_range(0, 100),
    "period": _period,
    "sim_rate": _float_range(0.1, 10_000.0),
    "debug": _flag,
}
