"""Headless Chromium viewers (Playwright): open pages, count their requests, read their JS heap."""
import json
import time
from collections import Counter
from contextlib import contextmanager

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
CALLBACK_PATH = "_dash-update-component"


@contextmanager
def chromium():
    """Yield a launched headless Chromium browser (Debian's binary)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Viewer:
    """One page in its own browser context, counting the requests it sends."""

    def __init__(self, browser, url):
        self.context = browser.new_context(viewport={"width": 1600, "height": 900})
        self.page = self.context.new_page()
        self.requests = Counter()       # every request, keyed "METHOD path"
        self.callbacks = Counter()      # Dash callback POSTs, keyed by their "output"
        self.bodies = {}                # latest request body per callback output
        self.errors = []                # console errors and page errors
        self.page.on("request", self._on_request)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url.rstrip("/") + "/line/line-1", wait_until="load")  # the line dashboard
        self._cdp = None

    def _on_request(self, request):
        path = request.url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        self.requests[f"{request.method} /{path}"] += 1
        if request.method == "POST" and path.endswith(CALLBACK_PATH):
            body = json.loads(request.post_data or "{}")
            output = body.get("output", "?")
            self.callbacks[output] += 1
            self.bodies[output] = body

    def counts(self):
        """Snapshot (total requests, Dash callback POSTs, per-output callback counts)."""
        return sum(self.requests.values()), sum(self.callbacks.values()), Counter(self.callbacks)

    def wait(self, seconds):
        """Block while the browser runs, delivering page events."""
        self.page.wait_for_timeout(seconds * 1000)

    def wait_for_callback(self, output_part, count=1, timeout=30.0):
        """Wait until ``count`` requests of the callback whose output contains ``output_part``
        were sent; return the latest body."""
        step = 0.2
        for _ in range(int(timeout / step)):
            for output, body in self.bodies.items():
                if output_part in output and self.callbacks[output] >= count:
                    return body
            self.wait(step)
        raise RuntimeError(f"no callback with output {output_part!r} within {timeout}s; "
                           f"saw {sorted(self.bodies)}")

    def wait_until(self, js, what, timeout=60.0):
        """Wait until the expression ``js`` is true in the page (evaluated, as the page's CSP allows)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.page.evaluate(js):
                    return
            except Exception:  # noqa: BLE001  not loaded yet
                pass
            self.wait(0.2)
        raise RuntimeError(f"{what} within {timeout:g} s")

    def set_props(self, component_id, props):
        """Change a component's props as a user would (Dash's set_props; triggers callbacks)."""
        self.page.evaluate("([i, p]) => window.dash_clientside.set_props(i, p)",
                           [component_id, props])

    def js_heap(self):
        """JSHeapUsedSize in bytes after a forced garbage collection (CDP)."""
        if self._cdp is None:
            self._cdp = self.context.new_cdp_session(self.page)
            self._cdp.send("Performance.enable")
        self._cdp.send("HeapProfiler.collectGarbage")
        metrics = self._cdp.send("Performance.getMetrics")["metrics"]
        return next(int(m["value"]) for m in metrics if m["name"] == "JSHeapUsedSize")

    def close(self):
        self.context.close()
