"""Where LineWatch keeps things in Redis: every key is under ``linewatch:`` (use another Redis
database for another deployment).

==================  ===========================================================================
``points:<line>``   Stream; entry ``0-<seq+1>``, field ``p``: ts, value, prob as 3 little-endian
                    doubles.  XADD MAXLEN ~ capacity.
``alarms:<line>``   sorted set of the alarms of the points held: score seq, member ``<seq>|<JSON>``
``seq:<line>``      the line's next sequence id
``rate:<line>``     hash epoch second -> points appended (throughput over the last 10 s)
``lines``           set of line ids
``ready``           set by the ingest worker once the streams hold what SQLite has; without it
                    (Redis restarted empty) reads and appends answer "store unavailable"
``batch:<token>``   first id of an append already done: a retry after a timeout is a no-op
``alerts``          Stream of recorded alerts, entry ``0-<alert id>``, field ``a``: JSON
``worker``          the ingest worker's heartbeat and source health (hash with a short TTL)
``rejected``        points refused by HTTP ingest, all web processes together
``gaps``            hash line -> JSON: points lost when Redis lost data not yet recorded
``inbox``           list of HTTP ingest requests waiting for the ingest worker (JSON, with a token)
``answer:<token>``  the worker's answer to one request (JSON, short TTL)
``spc``             hash line -> "centre,lcl,ucl": SPC control lines of the lines that have SPC rules
``counts:<name>``   hash worker run -> that run's total of a readings counter (app/ingest/counts.py)
``viewers``         sorted set: viewer key hash -> last tick time (app/viewers.py)
``alarm:<id>``      an alarm book record, JSON (app/store/redis/alarm_ledger.py)
``alarm-open``      hash ``<line>/<rule>`` -> id of its open alarm
``alarm-journal:<id>``  list of the alarm's journal entries, JSON, in the order written
``alarm-times``     sorted set: alarm id by ``raised_ts``
``alarm-changes``   Stream of every journal entry (field ``e``), which the ingest worker mirrors
                    into the SQLite history
==================  ===========================================================================
"""

PREFIX = "linewatch:"
READY_KEY = PREFIX + "ready"
LINES_KEY = PREFIX + "lines"
ALERTS_KEY = PREFIX + "alerts"
WORKER_KEY = PREFIX + "worker"
REJECTED_KEY = PREFIX + "rejected"
GAPS_KEY = PREFIX + "gaps"
INBOX_KEY = PREFIX + "inbox"
SPC_KEY = PREFIX + "spc"
ALARM_OPEN_KEY = PREFIX + "alarm-open"
ALARM_TIMES_KEY = PREFIX + "alarm-times"
ALARM_CHANGES_KEY = PREFIX + "alarm-changes"


def points_key(line: str) -> str:
    return f"{PREFIX}points:{line}"


def alarms_key(line: str) -> str:
    return f"{PREFIX}alarms:{line}"


def seq_key(line: str) -> str:
    return f"{PREFIX}seq:{line}"


def rate_key(line: str) -> str:
    return f"{PREFIX}rate:{line}"


def answer_key(token: str) -> str:
    return f"{PREFIX}answer:{token}"


def batch_key(token: str) -> str:
    return f"{PREFIX}batch:{token}"


def alarm_key(alarm_id: str) -> str:
    return f"{PREFIX}alarm:{alarm_id}"


def alarm_journal_key(alarm_id: str) -> str:
    return f"{PREFIX}alarm-journal:{alarm_id}"
