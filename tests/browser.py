"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

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
