"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright."""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags this closed network refuses Chromium's background connections in storms.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextmanager
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleLog:
    """Collects every console warning/error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.entries: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.entries.append(f"pageerror: {exc}"))

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.entries.append(f"{message.type}: {message.text}")


def wait_for_function(page: Page, expression: str, arg=None, timeout: float | None = None, polling=None) -> object:
    """``page.wait_for_function`` that works under the app's Content-Security-Policy.

    Playwright compiles the predicate with ``new Function`` inside the page, which a CSP
    without 'unsafe-eval' (the app's) refuses; this polls ``page.evaluate`` instead (DevTools
    evaluation is exempt from the page's CSP).  Same arguments; a predicate that throws
    counts as not yet true until the timeout.
    """
    deadline = time.monotonic() + (30_000 if timeout is None else timeout) / 1000
    interval = polling / 1000 if isinstance(polling, (int, float)) else 0.1
    while True:
        try:
            value = page.evaluate(expression, arg)
            error = None
        except PlaywrightError as exc:
            value, error = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waiting for {expression!r}" + (f": {error}" if error else "")) from error
        page.wait_for_timeout(interval * 1000)


# Every browser test runs the page under its real CSP, with waits that do not need 'unsafe-eval'.
Page.wait_for_function = wait_for_function
