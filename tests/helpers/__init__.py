"""Shared test code; test modules import from here, never from each other or from conftest.

- ``waiting``: ``wait_until(predicate, timeout, message)``, the polling wait instead of fixed sleeps
- ``processes``: ``ROOT``, ``free_port``, the Procfile argv, ``ServerProcess`` (the app as a real process)
- ``ticks``: the Dash tick request, ``post_tick`` over HTTP, ``seqs`` of a tick
- ``browser``: headless Chromium (``chromium``), ``ConsoleLog``, a CSP-safe ``wait_for_function``
- ``page``: the page test every deployment runs (``check_live_page``), seeded history, page readers
- ``proxy``: a reverse proxy under a path prefix
- ``brokers``: a private mosquitto; ``redis_server``: a private redis-server
- ``mounts``: a tiny tmpfs (``tiny_filesystem``, ``fill``) and a read-only bind mount for disk faults
"""
