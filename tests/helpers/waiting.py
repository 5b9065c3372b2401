"""Waiting on a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, message: str = "condition", *,
               interval: float = 0.05, sleep: Callable[[float], object] = time.sleep) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises ``AssertionError`` naming ``message`` after ``timeout`` seconds.  ``sleep`` is how to
    pass the time between polls (in a Playwright test: ``lambda s: page.wait_for_timeout(s * 1000)``,
    so that the page's events keep being dispatched meanwhile).  Exceptions from ``predicate``
    propagate: a predicate that can fail on the way should catch what it expects itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        sleep(interval)
