"""Shared fixtures: isolated configs and apps, real server processes on free ports, Chromium.

Shared code (not fixtures) lives in tests/helpers; test modules never import this file."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from app.web import create_app
from app.config import Config
from tests.helpers import postgres
from tests.helpers.processes import ServerProcess, app_argv, free_port
from tests.helpers.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A private redis-server on a free port for the whole run (the system one is never used)."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def pg_database():
    """A PostgreSQL database of the machine's server for the module, dropped afterwards; skipped, with
    the reason, when no server answers (tests/helpers/postgres.py)."""
    reason = postgres.available()
    if reason:
        pytest.skip(reason)
    with postgres.database() as name:
        yield name


@pytest.fixture
def config(tmp_path) -> Config:
    return Config.from_env({"LINEWATCH_DATA_DIR": str(tmp_path / "data"), "LINEWATCH_SIM_RATE": "50"})


@pytest.fixture
def dash_app(config):
    app = create_app(config)
    yield app
    app.server.extensions["linewatch"].stop()


@pytest.fixture
def client(dash_app):
    return dash_app.server.test_client()


@pytest.fixture
def start_server(tmp_path):
    """Start ``python -m app`` (default) or another argv; every server is stopped afterwards."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, argv: list[str] | None = None, wait: bool = True) -> ServerProcess:
        port = free_port()
        env = {"LINEWATCH_DATA_DIR": str(tmp_path / "data"), **(env or {})}
        argv = [a.replace("{port}", str(port)) for a in (argv or app_argv())]
        server = ServerProcess(argv, env, port, tmp_path / f"server-{port}.log")
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (tests mark themselves ``browser``)."""
    from tests.helpers.browser import chromium  # playwright is needed only where a browser runs

    with chromium() as instance:
        yield instance


@pytest.fixture
def users_file(tmp_path):
    """A LINEWATCH_AUTH_USERS_FILE with a comment, a blank line and one viewer: alice, password s3cret."""
    path = tmp_path / "users.txt"
    path.write_text("# LineWatch viewers\n\nalice:" + generate_password_hash("s3cret") + "\n")
    return path
