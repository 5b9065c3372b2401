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
LANG_COOKIE = "linewatch_lang"
LANG_COOKIE_AGE_S = 365 * 24 * 3600


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

    @server.after_request
    def remember_language(response):
        """``?lang=`` on the page sticks (a cookie), since Dash fetches the layout separately."""
        requested = request.args.get("lang")
        if requested in TEXT:
            response.set_cookie(LANG_COOKIE, requested, max_age=LANG_COOKIE_AGE_S, path=config.url_prefix,
                                samesite="Lax")
        return response

    def layout():
        if has_request_context():  # Dash also calls this once at start-up, to validate
            requested = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
            lang = choose_lang(config.lang, requested, request.accept_languages.values())
        else:
            lang = choose_lang(config.lang, None, ())
        other = next(code for code in TEXT if code != lang)
        return layouts.build_layout(config, lang, labels(lang), other)

    app.layout = layout
    callbacks.register_all(app, runtime.store, runtime.source_status, config)
    return app
