"""Alarm webhooks (app/notify.py) against a local receiver that fails and recovers."""

from __future__ import annotations

import json
import time

import pytest

from app.alarm_book import AlarmBook, MemoryLedger
from app.alarm_lifecycle import AlarmDesign
from app.config import Config
from app.readings import validate_points
from app.runtime import make_runtime
from app.notify import MemoryClaims, WebhookNotifier, signature
from tests.helpers.alarms import Clock, raised
from tests.helpers.receiver import Receiver
from tests.helpers.waiting import wait_until


@pytest.fixture
def receiver():
    receiver = Receiver(failures=2)
    yield receiver
    receiver.close()


def test_each_transition_arrives_once_signed_after_the_receiver_recovers(receiver):
    notifier = WebhookNotifier(receiver.url, secret="s3cret", actions={"raise", "acknowledge"}, retry_base_s=0.05)
    book = AlarmBook(MemoryLedger())
    book.listen(notifier)
    notifier.start()
    try:
        [step] = book.raised([raised(seq=1)])
        book.acknowledge(step.record.id, "alice", "on it")
        book.returned("oven", "score", 200.0)  # not a chosen action
        notifier(step)  # the same transition again (another worker, a replay): not sent twice
        wait_until(lambda: len(receiver.bodies) == 2, message="both transitions delivered")
    finally:
        notifier.stop()
    assert [(b["event"], b["alarm"]["id"], b["user"]) for b in receiver.bodies] == [
        ("raise", "oven/1/score", ""), ("acknowledge", "oven/1/score", "alice")]
    assert all(header == signature("s3cret", body) for header, body in receiver.signatures)
    assert receiver.failures == 0 and notifier.delivered == 2


def test_a_flood_on_one_line_sends_a_few_then_one_summary():
    clock, sent = Clock(), []
    notifier = WebhookNotifier("http://unused", per_line_per_minute=3, clock=clock,
                               post=lambda url, body, headers: sent.append(json.loads(body)))
    book = AlarmBook(MemoryLedger(), clock=clock)
    book.listen(notifier)
    book.raised([raised(seq=seq, rule=f"r{seq}") for seq in range(50)])
    book.raised([raised(seq=99, line="press")])  # another line has its own budget
    notifier.deliver_due()
    assert [b["event"] for b in sent] == ["raise"] * 4
    clock.now += 60
    notifier.deliver_due()
    summary = sent[-1]
    assert summary["event"] == "summary" and summary["line"] == "oven" and summary["count"] == 47
    assert len(summary["alarms"]) == 47 and len(sent) == 5


def test_priorities_filter_and_a_shared_claim_deduplicates_across_notifiers():
    sent, claims = [], MemoryClaims()
    post = lambda url, body, headers: sent.append(json.loads(body))  # noqa: E731
    first, second = (WebhookNotifier("http://unused", priorities={1}, claim=claims, post=post) for _ in range(2))
    book = AlarmBook(MemoryLedger(), lambda line, rule: AlarmDesign(priority=1 if rule == "we-1" else 3))
    book.listen(first)
    book.listen(second)  # two processes hearing the same transition
    book.raised([raised(seq=1, rule="we-1"), raised(seq=2, rule="score")])
    first.deliver_due()
    second.deliver_due()
    assert [b["alarm"]["rule"] for b in sent] == ["we-1"]


def test_a_receiver_that_never_recovers_is_given_up_on():
    clock = Clock()

    def refuse(url, body, headers):
        raise OSError("connection refused")
    notifier = WebhookNotifier("http://unused", post=refuse, clock=clock, retry_base_s=1, give_up_after_s=10)
    notifier(AlarmBook(MemoryLedger()).raised([raised(seq=1)])[0])
    for _ in range(10):
        clock.now += notifier.deliver_due()
    assert notifier.given_up == 1 and notifier.delivered == 0 and notifier.deliver_due() == 1.0  # nothing left


def test_a_runtime_with_a_webhook_url_sends_the_alarms_its_ingest_raises(receiver, tmp_path):
    config = Config.from_env({"LINEWATCH_SOURCE": "http", "LINEWATCH_DATA_DIR": str(tmp_path),
                              "LINEWATCH_WEBHOOK_URL": receiver.url, "LINEWATCH_WEBHOOK_PRIORITIES": "3"})
    runtime = make_runtime(config)
    runtime.ensure_started()
    runtime.webhooks.retry_base_s = 0.05
    try:
        runtime.ingestor.ingest(validate_points([{"value": 0.9, "defect_prob": 0.95}], time.time()))
        wait_until(lambda: receiver.bodies, message="the raise at the receiver")
    finally:
        runtime.stop()
    assert receiver.bodies[0]["alarm"]["rule"] == "threshold" and receiver.bodies[0]["event"] == "raise"
