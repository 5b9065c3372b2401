"""The MQTT source against a real mosquitto (private, on a free loopback port)."""

from __future__ import annotations

import json
import logging
import math
import re
import signal
import socket
import sqlite3
import ssl
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from app.config import Config
from app.recorder import HistoryUnavailable
from app.runtime import Runtime, make_runtime
from app.sources import mqtt as mqtt_source
from app.sources.base import SourceHealth
from tests.helpers.brokers import Broker, password_file, tls_files
from tests.helpers.waiting import wait_until

TOPIC = "plant/+/points"
LINE = "line-1"


def recorded(path, line: str = LINE) -> list[float]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT value FROM points WHERE line = ? ORDER BY seq", (line,))]


def stored(runtime: Runtime, line: str = LINE) -> list[float]:
    return runtime.stores.get(line).since(-1).value.tolist()


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def start_runtime(url: str, data_dir, connected: bool = True) -> Runtime:
    data_dir.mkdir(exist_ok=True)
    runtime = make_runtime(Config.from_env({"LINEWATCH_SOURCE": "mqtt", "LINEWATCH_MQTT_URL": url,
                                            "LINEWATCH_MQTT_TOPIC": TOPIC, "LINEWATCH_DATA_DIR": str(data_dir)}))
    runtime.ensure_started()
    if connected:
        wait_until(lambda: runtime.source.health().state == "running", message="the source to connect")
    return runtime


def wait_for_state(runtime: Runtime, state: str):
    return wait_until(lambda: (h := runtime.source.health()).state == state and h, message=f"the {state} state")


def first_error(url: str, data_dir) -> SourceHealth:
    """The health of a runtime started on ``url`` once its source reports an error (then stopped)."""
    runtime = start_runtime(url, data_dir, connected=False)
    try:
        return wait_for_state(runtime, "error")
    finally:
        runtime.stop()


@pytest.fixture
def runtime(broker, tmp_path):
    runtime = start_runtime(broker.url, tmp_path / "data")
    yield runtime
    runtime.stop()


class Publisher:
    """A QoS 1 paho publisher; ``publish`` returns once the broker acknowledged every message."""

    def __init__(self, broker: Broker, topic: str = "plant/a/points") -> None:
        self.topic = topic
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def publish(self, payloads) -> None:
        infos = [self.client.publish(self.topic, p if isinstance(p, bytes) else json.dumps(p), qos=1)
                 for p in payloads]
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker):
    publisher = Publisher(broker)
    yield publisher
    publisher.close()


class Streamer(Publisher):
    """Publishes the values 0, 1, 2, ... at about 2,000 messages/s from a thread, until halted."""

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self.sent: list[tuple[int, mqtt.MQTTMessageInfo]] = []
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._stream)
        self._thread.start()

    def _stream(self) -> None:
        while not self._halt.is_set():
            value = len(self.sent)
            self.sent.append((value, self.client.publish(self.topic, json.dumps({"value": value}), qos=1)))
            time.sleep(0.0005)  # pacing, not waiting: about 2,000 messages/s

    def halt(self) -> None:
        self._halt.set()
        self._thread.join()

    def acknowledged(self) -> set[int]:
        """The values the broker has acknowledged (PUBACK) so far."""
        return {value for value, info in self.sent if info.rc == mqtt.MQTT_ERR_SUCCESS and info.is_published()}

    def close(self) -> None:
        self.halt()
        super().close()


def test_ten_thousand_messages_are_stored_and_recorded_in_order(runtime, publisher):
    values = [i / 10_000 for i in range(10_000)]
    publisher.publish({"value": v, "defect_prob": 0.1} for v in values)
    wait_until(lambda: len(stored(runtime)) >= len(values), message="10,000 points in the store")
    assert stored(runtime) == values
    wait_until(lambda: len(recorded(runtime.recorder.path)) >= len(values), message="10,000 points in SQLite")
    assert recorded(runtime.recorder.path) == values
    assert runtime.ingestor.rejected == 0 and runtime.source.health().state == "running"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["killed-session-lost", "stopped-session-saved"])
def test_broker_restarted_mid_stream_the_source_reconnects_and_resumes(runtime, broker, sig):
    streamer = Streamer(broker)
    try:
        wait_until(lambda: len(stored(runtime)) >= 200, message="the stream to flow")
        broker.stop(sig)
        health = wait_for_state(runtime, "reconnecting")
        retrying = wait_until(lambda: (h := runtime.source.health()).message != health.message and h,
                              message="a failed reconnect")
    finally:
        streamer.close()
    assert health.message == "connection lost"
    assert retrying == SourceHealth("reconnecting", f"cannot reach 127.0.0.1:{broker.port} since the connection "
                                                    "was lost; retrying")
    acknowledged = streamer.acknowledged()
    broker.start()  # same port; after SIGKILL without the session, so the source must subscribe again
    wait_until(lambda: runtime.source.health().state == "running", message="the source to reconnect")
    after = [1_000_000 + i for i in range(500)]
    publisher = Publisher(broker)
    try:
        publisher.publish({"value": v} for v in after)
    finally:
        publisher.close()
    wait_until(lambda: stored(runtime)[-len(after):] == after, message="the messages published after the restart")
    values = stored(runtime)
    first_seen = list(dict.fromkeys(values))
    assert first_seen == sorted(first_seen)  # in order
    if sig == signal.SIGKILL:
        assert len(values) == len(first_seen)  # the broker lost its state: nothing comes twice
    else:
        assert acknowledged <= set(values)  # the saved session brought what was on its way: nothing lost


def test_malformed_messages_are_counted_logged_once_and_the_good_ones_stored(runtime, publisher, caplog):
    caplog.set_level(logging.WARNING, logger="app.sources.mqtt")

    def reports() -> list[str]:
        return [record.getMessage() for record in caplog.records if "malformed" in record.getMessage()]

    publisher.publish([{"value": 1}, b"not json", {"value": 2}])
    wait_until(lambda: runtime.ingestor.rejected == 1 and reports(), message="the first report")
    publisher.publish([
        {"value": "0.5"}, {"value": 3}, {"value": 0.5, "defect_prob": 1.5}, {"value": 4},
        {"value": 0.5, "colour": "red"}, {"value": 5}, b"\xff\xfe", [{"value": 0.1}, {"value": "x"}], [], {"value": 6},
    ])
    wait_until(lambda: runtime.ingestor.rejected >= 8 and len(stored(runtime)) >= 6, message="the rest")
    assert stored(runtime) == [1, 2, 3, 4, 5, 6]  # the bad list's good point is not stored either
    assert runtime.ingestor.rejected == 8  # points: 1 per undecodable or empty message, 2 for the bad list
    assert runtime.source.health().state == "running"
    assert reports() == ["MQTT: rejected 1 point(s) of malformed messages since the last report; "
                         "last: plant/a/points: Expecting value: line 1 column 1 (char 0)"]
    runtime.source.stop()  # the rest waited for the next report: 10 s later, or when the source stops
    assert len(reports()) == 2
    assert re.search(r"rejected 7 .*; last: plant/a/points: no points in the message$", reports()[1])


def test_acknowledged_messages_are_not_delivered_again_after_a_restart(runtime, publisher, broker, tmp_path):
    publisher.publish([{"value": 1}, b"not json", {"value": 2}])
    wait_until(lambda: stored(runtime) == [1, 2] and runtime.ingestor.rejected == 1, message="the first messages")
    runtime.stop()
    publisher.publish([{"value": 3}])  # queued by the broker for the persistent session
    again = start_runtime(broker.url, tmp_path / "data")
    try:
        publisher.publish([{"value": 4}])
        wait_until(lambda: stored(again)[-1:] == [4], message="the message published after the restart")
        assert stored(again) == [1, 2, 3, 4]  # 1-2 restored from SQLite, 3 from the session; none twice
        assert again.ingestor.rejected == 0  # the malformed one was acknowledged too
    finally:
        again.stop()


def test_a_redelivery_of_a_message_already_recorded_is_acknowledged_not_stored_again(runtime, publisher):
    """The crash between the write and the PUBACK: the broker sends the message again (DUP)."""
    recognised, recorded_keys = [], runtime.ingestor.recorded
    runtime.ingestor.recorded = lambda keys: recognised.append(found := recorded_keys(keys)) or found
    runtime.source._client.ack = lambda mid, qos: None  # this connection's acknowledgements are lost
    publisher.publish([{"value": 1}])
    wait_until(lambda: recorded(runtime.recorder.path) == [1], message="the message on disk")
    runtime.source.stop()
    runtime.source.start()  # the same session: the unacknowledged message comes again
    publisher.publish([{"value": 2}])
    wait_until(lambda: recorded(runtime.recorder.path)[-1:] == [2], message="the next message")
    assert any(recognised), "the redelivery should have been recognised"
    assert recorded(runtime.recorder.path) == [1, 2] and stored(runtime) == [1, 2]


def test_points_without_probability_are_scored_and_a_list_stores_each_point(runtime, publisher):
    publisher.publish([
        {"value": 0.42},
        [{"value": 0.1, "line": "line-2", "ts": "2026-01-02T03:04:05Z"},
         {"value": 0.2, "line": "line-2", "ts": 1767323046.5, "defect_prob": 0.25},
         {"value": 0.3, "line": "line-2"}],
    ])
    wait_until(lambda: len(stored(runtime, "line-2")) == 3, message="the list's 3 points")
    scored = runtime.stores.get(LINE).since(-1)
    assert scored.value.tolist() == [0.42] and 0.0 <= scored.prob[0] <= 1.0 and not math.isnan(scored.prob[0])
    listed = runtime.stores.get("line-2").since(-1)
    assert listed.value.tolist() == [0.1, 0.2, 0.3] and listed.prob[1] == 0.25
    assert listed.ts[:2].tolist() == [1767323045.0, 1767323046.5]


def test_while_the_disk_fails_nothing_is_stored_or_acknowledged_and_the_source_shows_an_error(runtime, publisher):
    write_ahead, disk_full = runtime.recorder.write_ahead, threading.Event()

    def failing_write(planned, keys=()):
        if disk_full.is_set():
            raise HistoryUnavailable("history not writable: disk full")
        return write_ahead(planned, keys)

    runtime.recorder.write_ahead = failing_write
    disk_full.set()
    publisher.publish([{"value": 1}])
    health = wait_for_state(runtime, "error")
    assert "disk full" in health.message and recorded(runtime.recorder.path) == [] and stored(runtime) == []
    runtime.source.stop()
    runtime.source.start()  # the broker still holds the message, unacknowledged, and sends it again
    wait_for_state(runtime, "error")
    disk_full.clear()
    wait_until(lambda: runtime.source.health().state == "running", message="the recovery")
    assert stored(runtime) == [1]  # stored once: the failed tries stored nothing
    publisher.publish([{"value": 2}])
    wait_until(lambda: recorded(runtime.recorder.path) == [1, 2], message="the points on disk")


def test_the_initial_connection_failure_is_an_error_and_is_retried(tmp_path):
    broker = Broker(tmp_path / "broker")  # configured, not started yet
    runtime = start_runtime(broker.url, tmp_path / "data", connected=False)
    try:
        health = wait_for_state(runtime, "error")
        assert health.message == f"127.0.0.1:{broker.port} refused the connection"
        broker.start()
        wait_for_state(runtime, "running")
    finally:
        runtime.stop()
        broker.stop()


def test_an_address_where_nothing_answers_is_an_error_naming_it_and_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(mqtt_source, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as silent:  # the kernel completes the handshake; no broker ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        health = first_error(f"mqtt://127.0.0.1:{port}", tmp_path / "data")
    assert health.message == f"cannot reach 127.0.0.1:{port} (timed out after 1 s)"


def test_an_address_that_hangs_up_without_answering_is_an_error_naming_it(tmp_path):
    with socket.socket() as closer:
        closer.bind(("127.0.0.1", 0))
        closer.listen()
        port = closer.getsockname()[1]

        def hang_up():
            while True:
                try:
                    closer.accept()[0].close()
                except OSError:  # the test is over: the listener is closed
                    return

        threading.Thread(target=hang_up, daemon=True).start()
        health = first_error(f"mqtt://127.0.0.1:{port}", tmp_path / "data")
    assert health.message == f"127.0.0.1:{port} closed the connection without answering as an MQTT broker"


@pytest.mark.parametrize("error, message", [
    (ConnectionRefusedError(111, "Connection refused"), "broker.plant:1883 refused the connection"),
    (TimeoutError("timed out"), "cannot reach broker.plant:1883 (timed out after 5 s)"),
    (socket.gaierror(-2, "Name or service not known"), "cannot find the host broker.plant (check LINEWATCH_MQTT_URL)"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
     "the TLS handshake with broker.plant:1883 failed (is it a TLS port? mqtts:// usually uses 8883)"),
    (OSError(101, "Network is unreachable"), "cannot reach broker.plant:1883 (network is unreachable)"),
])
def test_connection_errors_are_sentences_about_the_address(error, message):
    assert mqtt_source.connect_problem(error, "broker.plant", 1883, 5.0) == message


def test_credentials_come_from_the_url_and_a_refusal_is_an_error(tmp_path):
    passwords = password_file(tmp_path / "passwords", "line reader", "p@ss:word")
    broker = Broker(tmp_path / "broker", f"allow_anonymous false\npassword_file {passwords}").start()
    try:
        refused = first_error(f"mqtt://line%20reader:wrong@127.0.0.1:{broker.port}", tmp_path / "a")
        assert refused.message.startswith("broker refused the connection: ")
        start_runtime(f"mqtt://line%20reader:p%40ss%3Aword@127.0.0.1:{broker.port}", tmp_path / "b").stop()
    finally:
        broker.stop()


def test_mqtts_trusts_the_system_certificate_authorities(tmp_path, monkeypatch):
    ca, cert, key = tls_files(tmp_path)
    broker = Broker(tmp_path / "broker", f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}").start()
    url = f"mqtts://127.0.0.1:{broker.port}"
    try:
        assert first_error(url, tmp_path / "a").message.startswith(
            f"127.0.0.1:{broker.port} sent a certificate this machine does not trust (")
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # now the test CA is one the system trusts
        start_runtime(url, tmp_path / "b").stop()
    finally:
        broker.stop()


def source_state(server) -> str:
    with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
        return json.loads(response.read())["source"]["state"]


@pytest.mark.server
def test_sigkill_mid_stream_loses_no_message_the_broker_acknowledged(start_server, broker, tmp_path):
    env = {"LINEWATCH_SOURCE": "mqtt", "LINEWATCH_MQTT_URL": broker.url, "LINEWATCH_MQTT_TOPIC": TOPIC}
    database = tmp_path / "data" / "linewatch.sqlite3"
    server = start_server(env)
    wait_until(lambda: source_state(server) == "running", message="the app to connect")
    streamer = Streamer(broker)
    try:
        wait_until(lambda: len(recorded(database)) >= 2000, message="the stream to be recorded")
        server.stop(signal.SIGKILL)
        streamer.halt()
        wait_until(lambda: len(streamer.acknowledged()) == len(streamer.sent), message="the broker's last PUBACKs")
    finally:
        streamer.close()
    acknowledged = streamer.acknowledged()
    assert acknowledged - set(recorded(database)), "the kill should catch messages on their way, or this proves nothing"
    restarted = start_server(env)  # same data dir: same client id, so the broker resumes the session
    # the restart, the broker's redelivery and the next batch written: slow when the suite shares 2 cores with 3 files
    wait_until(lambda: acknowledged <= set(recorded(database)), timeout=40, message="every acknowledged message on disk")
    # a resumed session's queued messages come before the SUBACK that makes the source "running"
    wait_until(lambda: source_state(restarted) == "running", message="the resumed subscription confirmed")
    values = recorded(database)
    assert len(values) == len(set(values)), "a redelivered message was stored twice"
