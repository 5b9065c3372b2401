"""A sender of ``POST /api/v1/points`` as a real client sees it: status and JSON body, or no answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def post_points(base: str, points: list[dict], key: str | None = None, timeout: float = 10.0
                ) -> tuple[int, dict] | None:
    """POST ``points`` to ``base``/api/v1/points (with ``Idempotency-Key: key``); (status, body), or
    None when no answer came (connection refused or reset, timeout): the client cannot know."""
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    request = urllib.request.Request(base + "/api/v1/points", data=json.dumps(points).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, {"raw": body.decode(errors="replace")}
    except (OSError, ValueError):  # refused, reset, timed out, a truncated body
        return None
