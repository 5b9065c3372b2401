#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs all of it.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k browser`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v openssl >/dev/null || missing+=(openssl)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# the history's PostgreSQL tests use the machine's server (127.0.0.1:5432, role postgres; each test
# module creates and drops its database): start Debian's service when it is installed but not running
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd service postgresql start >/dev/null || echo "PostgreSQL did not start: its tests will be skipped"
fi

# constraints.txt pins every package (the lock; README "Dependencies"): a fresh machine installs what CI tested
python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
# three test files at a time (pytest-xdist; one file stays in one process, with its servers): most
# of the suite waits on servers and browsers it starts (a fresh clone on 2 idle cores, 779 tests: 205 s for three at a time)
exec python -m pytest -n 3 --dist loadfile "$@"
