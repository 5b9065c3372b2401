"""Basic-auth credentials for tests of LINEWATCH_AUTH=basic."""

from __future__ import annotations

import base64


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value for ``user`` and ``password``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
