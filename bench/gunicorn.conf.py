"""gunicorn settings for benchmark servers: passed with -c so the repository's gunicorn.conf.py
(which gunicorn would otherwise load from the working directory) does not apply to either app.
Everything else comes from the command line in bench/servers.py."""

# gunicorn >= 24 opens one management socket path shared by every instance; the benchmark
# runs two servers at once (memory experiment), so none.
control_socket_disable = True
