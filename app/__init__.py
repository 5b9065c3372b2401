"""LineWatch: a real-time defect-monitoring dashboard.  ``create_app`` wires every part."""

from __future__ import annotations

from pathlib import Path

import dash
from flask import has_request_context, request

import callbacks
import layouts
from app.api import create_api
from app.config import Config
from app.i18n import TEXT, choose_lang, labels
from app.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Config) -> dash.Dash:
    """Build the Dash app (with its Flask server) for ``config``; starts no thread."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(config)
    app = dash.Dash(
        __name__,
        title="LineWatch",
        assets_folder=str(ROOT / "assets"),
        requests_pathname_prefix=config.url_prefix,
        routes_pathname_prefix=config.url_prefix,
        serve_locally=True,
        update_title=None,
    )
    server = app.server
    server.extensions["linewatch"] = runtime
    server.register_blueprint(create_api(runtime), url_prefix=config.url_prefix.rstrip("/") or None)
    server.before_request(runtime.ensure_started)

    def layout():
        if has_request_context():  # Dash also calls this once at start-up, to validate
            lang = choose_lang(config.lang, request.args.get("lang"), request.accept_languages.values())
        else:
            lang = choose_lang(config.lang, None, ())
        other = next(code for code in TEXT if code != lang)
        return layouts.build_layout(config, lang, labels(lang), other)

    app.layout = layout
    callbacks.register_all(app, runtime.store, runtime.source.health, config)
    return app
