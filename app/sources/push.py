"""The ``http`` source: points are pushed to POST /api/v1/points; this only reports health."""

from __future__ import annotations

from app.sources.base import SourceHealth


class PushSource:
    name = "http"

    def __init__(self) -> None:
        self._health = SourceHealth("stopped")

    def start(self) -> None:
        self._health = SourceHealth("running")

    def stop(self) -> None:
        self._health = SourceHealth("stopped")

    def health(self) -> SourceHealth:
        return self._health
