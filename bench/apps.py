"""The apps under test (the floor, LineWatch polled and pushed): how to serve them and what their tick looks like."""
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import servers


@dataclass(frozen=True)
class AppSpec:
    """An app served by gunicorn, with the Dash callback that carries its tick."""

    name: str
    target: str                 # gunicorn WSGI target
    tick_output: str            # the tick callback's "output" string, e.g. "tick.data"
    period_env: str             # environment variable holding the tick period in seconds
    cursor_id: str | None = None  # id of the dcc.Store whose value is the cursor
    env: dict = field(default_factory=dict)
    data_dir_env: str | None = None
    ready_js: str | None = None  # true in a tab once its first tick has landed (None: once the tick callback fired)

    @contextmanager
    def serve(self, period=1.0, threads=8, extra_env=None):
        """Run the app under gunicorn (fresh temporary data dir); yield (process, base_url)."""
        with tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-") as tmp:
            env = {**self.env, self.period_env: f"{period:g}", **(extra_env or {})}
            if self.data_dir_env:
                env[self.data_dir_env] = tmp
            with self._server(env, threads, f"{tmp}/gunicorn.log") as served:
                yield served

    def _server(self, env, threads, log_path):
        return servers.gunicorn(self.target, env, threads, log_path)

    def cursor_in(self, response):
        """The cursor a tick response hands back (None if the app keeps none)."""
        if self.cursor_id is None:
            return None
        component, prop = self.tick_output.rsplit(".", 1)
        return response["response"][component][prop]["cursor"]


FLOOR = AppSpec(name="floor", target="bench.floor_app:server", tick_output="graph.extendData",
                period_env="FLOOR_PERIOD")

LINEWATCH = AppSpec(name="linewatch", target="app.wsgi:server", tick_output="tick.data",
                    period_env="LINEWATCH_PERIOD", cursor_id="cursor",
                    # one new reading per 1 s tick, as the floor adds one point: the same data rate
                    env={"LINEWATCH_WINDOW": "1000", "LINEWATCH_SIM_RATE": "1"}, data_dir_env="LINEWATCH_DATA_DIR")


@dataclass(frozen=True)
class SocketAppSpec(AppSpec):
    """An app served by gunicorn's uvicorn worker (an ASGI app: the WebSocket and push transports)."""

    def _server(self, env, threads, log_path):
        return servers.uvicorn_gunicorn(self.target, env, log_path)


# LineWatch with LINEWATCH_TRANSPORT=push: the viewer experiment's LineWatch, its ticks streamed (one
# reading per tick); a tab is ready once the stream delivers (it polls until then).
LINEWATCH_PUSH = SocketAppSpec(
    name="linewatch-push", target="app.asgi:application", tick_output="tick.data", period_env="LINEWATCH_PERIOD",
    cursor_id="cursor", env={**LINEWATCH.env, "LINEWATCH_TRANSPORT": "push"}, data_dir_env="LINEWATCH_DATA_DIR",
    ready_js="window.linewatchPush.mode() === 'push'")

APPS = {spec.name: spec for spec in (FLOOR, LINEWATCH)}
