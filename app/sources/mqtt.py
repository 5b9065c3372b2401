"""The ``mqtt`` source: JSON points from an MQTT topic, acknowledged only once they are on disk.

paho's network thread hands each message to one worker thread, which stores them in
batches (at most ``BATCH_S`` or ``BATCH_MAX`` messages) with ``Ingestor.ingest(durable=True)``
and only then sends their PUBACKs (manual acknowledgement).  The session is persistent
(MQTT 5, clean start off, a client id kept in the data dir), so whatever was received but
not yet acknowledged when the process died is delivered again: nothing lost.  Each message's
key is recorded with its points, so a redelivery of a message already stored is recognised
and only acknowledged: stored once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import secrets
import socket
import ssl
import threading
import time
from urllib.parse import unquote, urlsplit

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from app.readings import Readings, validate_points
from app.sources.base import SourceHealth

log = logging.getLogger(__name__)

BATCH_S = 0.05
BATCH_MAX = 500
RECEIVE_MAXIMUM = 5000  # unacknowledged messages the broker may send ahead: bursts wait here, not in its queue
SESSION_EXPIRY_S = 24 * 3600  # how long the broker keeps our session, and queues for it, while we are away
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 5.0  # for the TCP connection and the broker's answer together
RETRY_MIN_S, RETRY_MAX_S = 1, 30
IDLE_WAKE_S = 0.25
REJECT_LOG_EVERY_S = 10.0
CLIENT_ID_FILE = "mqtt-client-id"


class MqttSource:
    """Subscribes to ``topic`` (wildcards allowed) at ``url`` (mqtt:// or mqtts://, user:pass@)
    and brings every valid point in through ``ingestor``; malformed messages are counted,
    logged at most every 10 s, and acknowledged so they are not sent again."""

    name = "mqtt"

    def __init__(self, url: str, topic: str, ingestor) -> None:
        self.url, self.topic, self.ingestor = url, topic, ingestor
        parts = urlsplit(url)
        self._tls = parts.scheme == "mqtts"
        self._host, self._port = parts.hostname, parts.port or (8883 if self._tls else 1883)
        self._username = unquote(parts.username) if parts.username is not None else None
        self._password = unquote(parts.password) if parts.password is not None else None
        self._link = SourceHealth("stopped")
        self._storage_error = ""
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._client: mqtt.Client | None = None

    def health(self) -> SourceHealth:
        return SourceHealth("error", self._storage_error) if self._storage_error else self._link

    def start(self) -> None:
        if self._worker and self._worker.is_alive():
            return
        self._stop.clear()
        self._link, self._storage_error = SourceHealth("starting"), ""
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()  # (connection number, message)
        self._connection = 0  # successful connects so far; a message remembers the one it came on
        self._session_since = 0  # the connect that began the broker's current session
        self._unacked: list[tuple[int, mqtt.MQTTMessage]] = []  # handled, waiting for the disk
        self._unstored: list[tuple[str, bool, Readings]] = []  # their valid points (see _store), for the next try
        self._rejected_unlogged, self._last_rejection, self._rejections_logged_at = 0, "", -REJECT_LOG_EVERY_S
        self.client_id = self._client_id()
        self._client = self._make_client()
        self._worker = threading.Thread(target=self._run, name="linewatch-mqtt", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then disconnect; what is left unacknowledged comes again."""
        self._stop.set()
        if self._worker:
            self._worker.join(timeout)  # longer than a connect attempt (CONNECT_TIMEOUT_S)
            self._client.disconnect()
            self._client.loop_stop()
            self._worker = None
        self._link, self._storage_error = SourceHealth("stopped"), ""

    # --- connection (paho's network thread, except the first connect) -------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self._tls:
            client.tls_set()  # the system's CA certificates
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.reconnect_delay_set(min_delay=RETRY_MIN_S, max_delay=RETRY_MAX_S)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def _client_id(self) -> str:
        """Stable for this data dir and topic, so the broker resumes our session after a restart;
        a new topic is a new session (the old one's subscription would otherwise linger)."""
        path = self.ingestor.recorder.path.parent / CLIENT_ID_FILE
        if not path.exists():
            path.write_text(secrets.token_hex(8) + "\n")
        seed = f"{path.read_text().strip()}\n{self.topic}"
        return "linewatch-" + hashlib.sha256(seed.encode()).hexdigest()[:13]  # 23 characters, as MQTT guarantees

    def _connect_first(self) -> bool:
        """Connect, retrying with backoff and showing why not; paho reconnects after that."""
        delay = RETRY_MIN_S
        while not self._stop.is_set():
            problem = self._try_connect()
            if problem is None:
                return True
            self._link = SourceHealth("error", problem)
            log.warning("MQTT: %s; retrying in %d s", problem, delay)
            self._stop.wait(delay)
            delay = min(2 * delay, RETRY_MAX_S)
        return False

    def _try_connect(self) -> str | None:
        """Connect and wait for the broker's answer (its CONNACK, accepting or refusing us):
        None once it answers, else why not in one sentence."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        self._answered = False
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        try:
            self._client.connect(self._host, self._port, keepalive=KEEPALIVE_S, clean_start=False,
                                 properties=properties)
        except OSError as exc:
            return connect_problem(exc, self._host, self._port, CONNECT_TIMEOUT_S)
        while not (self._answered or self._stop.is_set()):
            if time.monotonic() >= deadline:
                return f"cannot reach {self._host}:{self._port} (timed out after {CONNECT_TIMEOUT_S:g} s)"
            if self._client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS and not self._answered:
                return f"{self._host}:{self._port} closed the connection without answering as an MQTT broker"
        return None

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered = True
        if reason_code.is_failure:
            self._link = SourceHealth("error", f"broker refused the connection: {reason_code}")
            log.error("MQTT: %s", self._link.message)
            return
        self._connection += 1
        if not flags.session_present:
            self._session_since = self._connection
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)  # no old point again
        client.subscribe(self.topic, options=options)  # "running" once the broker confirms it
        log.info("MQTT: connected to %s:%d as %s (%s session), subscribing to %s", self._host, self._port,
                 self.client_id, "resumed" if flags.session_present else "new", self.topic)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            self._link = SourceHealth("error", f"subscription to {self.topic} refused: {refused[0]}")
            log.error("MQTT: %s", self._link.message)
        else:
            self._link = SourceHealth("running")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._stop.is_set():
            return
        reason = (f"broker closed the connection: {reason_code}" if flags.is_disconnect_packet_from_server
                  else "connection lost")
        if self._link.state == "running" or (self._link.state == "starting" and self._connection):
            self._link = SourceHealth("reconnecting", reason)
            log.warning("MQTT: %s; reconnecting", reason)
        elif self._link.state == "starting":
            self._link = SourceHealth("error", reason)

    def _on_connect_fail(self, client, userdata) -> None:
        """paho's reconnect found no broker (it says no more than that)."""
        if self._link.state == "reconnecting":
            self._link = SourceHealth("reconnecting", f"cannot reach {self._host}:{self._port} since the "
                                                      "connection was lost; retrying")

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._inbox.put((self._connection, message))

    # --- storing (the worker thread) ---------------------------------------------------

    def _run(self) -> None:
        if not self._connect_first() or self._stop.is_set():
            return
        self._client.loop_start()
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch or self._unacked:
                self._store(batch)
            self._log_rejections()
        self._log_rejections(force=True)

    def _next_batch(self) -> list[tuple[int, mqtt.MQTTMessage]]:
        try:
            batch = [self._inbox.get(timeout=IDLE_WAKE_S)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_S
        while len(batch) < BATCH_MAX and (remaining := deadline - time.monotonic()) > 0:
            try:
                batch.append(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[tuple[int, mqtt.MQTTMessage]]) -> None:
        """Validate, ingest durably, then acknowledge the batch (malformed messages too).

        Each message's key (client, packet id, payload digest) is recorded with its points; a
        redelivery (DUP) whose key is recorded was stored before the acknowledgement was lost:
        it is acknowledged, not stored again.
        """
        now, current = time.time(), self._connection
        parts, rejected = self._unstored, 0
        for connection, message in batch:
            if self._session_since <= connection < current:
                continue  # came before a reconnect that resumed the session: the broker sends it again
            items = None
            try:
                payload = json.loads(message.payload)
                items = payload if isinstance(payload, list) else [payload]
                if not items:
                    raise ValueError("no points in the message")
                parts.append((self._key(message), bool(message.dup), validate_points(items, now)))
            except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, InvalidPoint; deep nesting
                rejected += max(len(items or ()), 1)  # points, as HTTP ingest counts them
                self._last_rejection = f"{message.topic}: {exc}"
            self._unacked.append((connection, message))
        if rejected:
            self.ingestor.count_rejected(rejected)
            self._rejected_unlogged += rejected
        try:
            # a durable ingest stores nothing unless it is on disk: after a failure, the same points are retried
            done = self.ingestor.recorded([key for key, redelivered, _ in parts if redelivered])
            fresh = [(key, readings) for key, _, readings in parts if key not in done]
            self.ingestor.ingest(_concat([readings for _, readings in fresh]), durable=True,
                                 keys=[key for key, _ in fresh])
        except Exception as exc:  # the disk: keep the points and the acknowledgements until it works
            if not self._storage_error:
                log.exception("MQTT: storing points failed; retrying, messages stay unacknowledged")
            self._storage_error = f"storing points failed: {exc}"
            self._unstored = parts
            self._stop.wait(RETRY_MIN_S)
            return
        self._storage_error, self._unstored = "", []
        for connection, message in self._unacked:
            if connection == self._connection:  # an older connection's packet id may now name another message
                self._client.ack(message.mid, message.qos)
        self._unacked = []

    def _key(self, message: mqtt.MQTTMessage) -> str:
        """The message's idempotency key: a redelivery has the same packet id and payload."""
        digest = hashlib.sha256(message.payload).hexdigest()[:16]
        return f"mqtt:{self.client_id}:{message.mid}:{digest}"

    def _log_rejections(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._rejected_unlogged and (force or now - self._rejections_logged_at >= REJECT_LOG_EVERY_S):
            log.warning("MQTT: rejected %d point(s) of malformed messages since the last report; last: %s",
                        self._rejected_unlogged, self._last_rejection)
            self._rejected_unlogged, self._rejections_logged_at = 0, now


def connect_problem(exc: OSError, host: str, port: int, timeout_s: float) -> str:
    """Why a connection to ``host:port`` failed, as one sentence about the address or the setup."""
    where = f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection"
    if isinstance(exc, TimeoutError):
        return f"cannot reach {where} (timed out after {timeout_s:g} s)"
    if isinstance(exc, socket.gaierror):
        return f"cannot find the host {host} (check LINEWATCH_MQTT_URL)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{where} sent a certificate this machine does not trust ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with {where} failed (is it a TLS port? mqtts:// usually uses 8883)"
    reason = f" ({exc.strerror[0].lower()}{exc.strerror[1:]})" if exc.strerror else ""
    return f"cannot reach {where}{reason}"


def _concat(parts: list[Readings]) -> Readings:
    if not parts:
        return Readings(np.empty(0), np.empty(0), np.empty(0), [])
    if len(parts) == 1:
        return parts[0]
    ts, value, prob = (np.concatenate(column) for column in list(zip(*parts))[:3])
    return Readings(ts, value, prob, [line for part in parts for line in part.line])
