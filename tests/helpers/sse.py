"""A Server-Sent Events client for tests: the events of ``GET url`` as dicts, read as they arrive."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit


class EventStream:
    """``GET url`` kept open; ``next_event()`` is the next event with data: ``{"id", "data"}`` (data parsed)."""

    def __init__(self, url: str, headers: dict | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        self.response = self.connection.getresponse()
        self.status, self.headers = self.response.status, self.response.headers
        self.comments: list[str] = []

    def next_event(self) -> dict:
        event: dict = {}
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if not line:
                if "data" in event:
                    return event
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if not name:
                self.comments.append(value)
            elif name == "data":
                event["data"] = json.loads(value)
            elif name in ("id", "retry"):
                event[name] = value

    def body(self) -> bytes:
        return self.response.read()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
