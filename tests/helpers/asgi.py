"""The ASGI app (``app.asgi:application``) as a real gunicorn process, and what its tests ask of it."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from layouts import ids
from tests.helpers.browser import ConsoleLog
from tests.helpers.page import wait_text
from tests.helpers.processes import ServerProcess, free_port

PREFIX = "/tools/lw/"
CALLBACK_PATH = "_dash-update-component"


def asgi_server(tmp_path_factory, *flags: str, **env) -> ServerProcess:
    """gunicorn with uvicorn workers serving ``app.asgi:application`` (the repository's gunicorn.conf.py)."""
    port = free_port()
    data = tmp_path_factory.mktemp("data")
    argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-k", "uvicorn.workers.UvicornWorker",
            "app.asgi:application", "--bind", f"127.0.0.1:{port}", *flags]
    env = {"LINEWATCH_TRANSPORT": "websocket", "LINEWATCH_DATA_DIR": str(data), "LINEWATCH_SIM_RATE": "10",
           "LINEWATCH_URL_PREFIX": PREFIX, **env}
    server = ServerProcess(argv, env, port, data / "server.log")
    server.data_dir, server.argv, server.env = data, argv, env
    server.wait_ready(PREFIX + "healthz")
    return server


def restart(server: ServerProcess) -> ServerProcess:
    """Stop ``server`` and start it again: the same command on the same port, with the same data dir."""
    assert server.stop() == 0
    again = ServerProcess(server.argv, server.env, server.port, server.data_dir / "server-again.log")
    again.data_dir, again.argv, again.env = server.data_dir, server.argv, server.env
    again.wait_ready(PREFIX + "healthz")
    return again


def fetch(url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_streaming(page) -> None:
    wait_text(page, ids.KPI_STATUS, "Live")
    page.wait_for_function(f"document.querySelector('#{ids.CHART} .js-plotly-plot')?.data[0].x.length > 0")


def watch_posts(page) -> list[str]:
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and CALLBACK_PATH in r.url and posts.append(r.url))
    return posts


def open_line_page(browser, url: str):
    """A wide tab on the line page at ``url``, once it streams: (page, its console log, its callback POSTs)."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console = ConsoleLog(page)
    posts = watch_posts(page)
    page.goto(url)
    wait_streaming(page)
    return page, console, posts
