"""A tiny corporate portal that shows LineWatch two ways.

- ``/embedded``: a portal page with LineWatch in an iframe, in embed mode (``?embed=1``),
  from wherever it runs (``--embed-url``; LineWatch's LINEWATCH_FRAME_ANCESTORS must name
  this portal's origin when that is another origin).
- ``/linewatch/``: LineWatch mounted into this portal's own Flask app with
  ``create_app(config, server=portal)``, or with ``--dispatch`` as a separate Flask app
  behind werkzeug's DispatcherMiddleware.

Run from the repository root::

    python examples/portal/app.py --port 8000
    python examples/portal/app.py --port 8000 --embed-url "http://localhost:8050/line/line-1?embed=1"
    python examples/portal/app.py --port 8000 --dispatch

LineWatch's other settings come from the usual LINEWATCH_* variables.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from html import escape
from pathlib import Path

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# This file is app.py too: find LineWatch's ``app`` package, not this script.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from app.web import create_app  # noqa: E402
from app.config import Config, ConfigError  # noqa: E402
from app.logs import setup_logging  # noqa: E402

MOUNT = "/linewatch/"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · Plant portal</title>
  <link rel="icon" href="data:,">
  <style>
    body {{ margin: 0; font-family: system-ui, "Noto Sans CJK SC", sans-serif; background: #eef0f3; color: #22262a; }}
    nav {{ display: flex; gap: 1.5rem; align-items: center; padding: 0 1.5rem; height: 52px;
           background: #1f3b57; color: #fff; }}
    nav .brand {{ font-weight: 700; margin-right: 1rem; }}
    nav a {{ color: #d6e2ee; text-decoration: none; padding: 0.9rem 0; border-bottom: 3px solid transparent; }}
    nav a.active {{ color: #fff; border-bottom-color: #7fb3e0; }}
    main {{ padding: 1rem 1.5rem; }}
    h1 {{ font-size: 1.25rem; margin: 0 0 0.75rem; }}
    .tile {{ background: #fff; border: 1px solid #cfd4da; border-radius: 6px; overflow: hidden; }}
    .tile iframe {{ display: block; width: 100%; height: calc(100vh - 130px); min-height: 560px; border: 0; }}
    .cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 1rem; }}
    .card {{ background: #fff; border: 1px solid #cfd4da; border-radius: 6px; padding: 1rem; }}
  </style>
</head>
<body>
  <nav>
    <span class="brand">Plant portal</span>
    <a href="/" class="{home}">Home</a>
    <a href="/embedded" class="{embedded}">Line 1 quality (iframe)</a>
    <a href="{mount}">LineWatch (mounted)</a>
  </nav>
  <main>{body}</main>
</body>
</html>"""


def page(title: str, active: str, body: str) -> str:
    return PAGE.format(title=escape(title), home="active" if active == "home" else "",
                       embedded="active" if active == "embedded" else "", mount=MOUNT, body=body)


def create_portal(embed_url: str = MOUNT + "line/line-1?embed=1", dispatch: bool = False, environ=os.environ) -> Flask:
    portal = Flask("portal")

    @portal.get("/")
    def home():
        return page("Home", "home", f"""<h1>Good morning</h1>
<div class="cards">
  <div class="card"><b>Line 1 quality</b><p>Live defect monitoring, embedded.</p>
    <a href="/embedded">Open the tile</a></div>
  <div class="card"><b>LineWatch</b><p>The full dashboard, mounted in this portal.</p>
    <a href="{MOUNT}">Open LineWatch</a></div>
</div>""")

    @portal.get("/embedded")
    def embedded():
        return page("Line 1 quality", "embedded", f"""<h1>Line 1 quality</h1>
<div class="tile"><iframe id="linewatch" title="LineWatch" src="{escape(embed_url)}"></iframe></div>""")

    config = Config.from_env(environ, {"LINEWATCH_URL_PREFIX": MOUNT})
    if dispatch:
        # LineWatch as its own Flask app; DispatcherMiddleware hands it /linewatch/... with
        # SCRIPT_NAME=/linewatch, which LineWatch folds back into its prefixed paths.
        portal.wsgi_app = DispatcherMiddleware(portal.wsgi_app, {MOUNT.rstrip("/"): create_app(config).server})
    else:
        create_app(config, server=portal)  # LineWatch's routes, assets and API under /linewatch/
    return portal


def main() -> int:
    parser = argparse.ArgumentParser(description="A portal page embedding LineWatch")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--embed-url", default=MOUNT + "line/line-1?embed=1", help="what the iframe shows")
    parser.add_argument("--dispatch", action="store_true", help="mount with DispatcherMiddleware")
    args = parser.parse_args()
    setup_logging(os.environ.get("LINEWATCH_LOG_FORMAT", "text"))
    try:
        portal = create_portal(args.embed_url, args.dispatch)
    except ConfigError as exc:
        print(f"portal: invalid LineWatch configuration: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit normally: LineWatch records its last batch
    print(f"Portal on http://{args.host}:{args.port}/ (LineWatch mounted at {MOUNT})", flush=True)
    portal.run(host=args.host, port=args.port, threaded=True, load_dotenv=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
