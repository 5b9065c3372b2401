"""``python -m app [--host H] [--port P]``: serve LineWatch with its embedded defaults."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from app import create_app
from app.config import Config, ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="LineWatch defect-monitoring dashboard")
    parser.add_argument("--host", help="interface to bind (LINEWATCH_HOST, default 127.0.0.1)")
    parser.add_argument("--port", help="port to listen on (LINEWATCH_PORT, default 8050)")
    args = parser.parse_args(argv)
    overrides = {f"LINEWATCH_{name.upper()}": value for name, value in vars(args).items() if value is not None}
    try:
        config = Config.from_env(os.environ, overrides)
    except ConfigError as exc:
        print(f"linewatch: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per tick
    app = create_app(config)
    runtime = app.server.extensions["linewatch"]
    runtime.ensure_started()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop like Ctrl+C: record what is left
    print(f"LineWatch on http://{config.host}:{config.port}{config.url_prefix}", flush=True)
    try:
        app.run(host=config.host, port=config.port, debug=config.debug, use_reloader=False)
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
