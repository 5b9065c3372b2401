"""A client that retries every request: each POST is sent twice with the same Idempotency-Key,
one after the other or both at once; the history holds each reading once and both answers are
the same (``python -m app``, memory store)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers.ingest_client import post_points

BATCHES = 40
PER_BATCH = 25


def batch(n: int) -> list[dict]:
    return [{"value": n * 1000 + i + 0.5, **({"line": "line-2"} if i % 5 == 0 else {})} for i in range(PER_BATCH)]


@pytest.mark.server
def test_every_request_sent_twice_is_stored_once_and_answered_alike(start_server, tmp_path):
    server = start_server({"LINEWATCH_SOURCE": "http"})
    answers = []
    with ThreadPoolExecutor(4) as pool:
        for n in range(BATCHES):
            key = f"retry-{n:04d}"
            if n % 2:  # both at once: the second arrives while the first is being stored
                twice = list(pool.map(lambda _: post_points(server.url, batch(n), key), range(2)))
            else:  # the retry after the answer (lost on the way back, say)
                twice = [post_points(server.url, batch(n), key) for _ in range(2)]
            answers.append(twice)
    for n, (first, again) in enumerate(answers):
        assert first is not None and first[0] == 201, (n, first)
        assert again == first, n
        assert first[1]["accepted"] == PER_BATCH
    with sqlite3.connect(tmp_path / "data" / "linewatch.sqlite3") as db:
        rows = db.execute("SELECT line, seq, value FROM points ORDER BY line, seq").fetchall()
    values = [value for _, _, value in rows]
    assert len(values) == len(set(values)) == BATCHES * PER_BATCH  # each reading once
    assert sorted(values) == sorted(p["value"] for n in range(BATCHES) for p in batch(n))
    for line in ("line-1", "line-2"):  # ids contiguous and in the order the requests were answered
        line_rows = [(seq, value) for row_line, seq, value in rows if row_line == line]
        assert [seq for seq, _ in line_rows] == list(range(len(line_rows)))
        assert [value for _, value in line_rows] == sorted(value for _, value in line_rows)
    for line in ("line-1", "line-2"):  # the answers name the ids the readings were stored under, each once
        spans = [body["seqs"][line] for (_, body), _ in answers if line in body["seqs"]]
        assert [seq for first, last in spans for seq in range(first, last + 1)] == list(range(spans[-1][1] + 1))
