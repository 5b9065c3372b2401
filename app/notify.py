"""Outgoing webhooks for alarm transitions: signed, retried, one per transition, calm in a flood.

``WebhookNotifier`` listens to an alarm book (``book.listen(notifier)``) and POSTs a JSON body
for the actions and priorities chosen (LINEWATCH_WEBHOOK_*).  A transition is sent at most once:
its key (alarm id, action, time) is claimed first — in this process, or across every process of
a deployment with a shared claim (Redis ``SET NX``).  A line that sends more than
``per_line_per_minute`` in a minute sends the rest of that minute as one summary.  Failed
deliveries are retried with exponential backoff for ``give_up_after_s``; a delivery thread (started
with ``start``) does the sending, so the book never waits on the network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from app.alarm_lifecycle import Step
from app.config import Config

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-LineWatch-Signature"  # "sha256=" + HMAC-SHA256 of the body with the secret
RATE_WINDOW_S = 60.0
TIMEOUT_S = 5.0


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_json(url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST ``body``; raises OSError (urllib's errors) unless the receiver answers 2xx."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S):
        pass


class MemoryClaims:
    """Transition keys already sent by this process (remembered for ``keep_s``)."""

    def __init__(self, keep_s: float = 86_400.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_s, self.clock = keep_s, clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, key: str) -> bool:
        """True the first time ``key`` is claimed within ``keep_s``."""
        now = self.clock()
        with self._lock:
            if key in self._seen and now - self._seen[key] < self.keep_s:
                return False
            self._seen[key] = now
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.keep_s}
            return True


@dataclass
class _Delivery:
    body: bytes
    first_due: float
    attempt: int = 0
    due: float = 0.0


@dataclass
class _LineWindow:
    start: float
    sent: int = 0
    folded: Counter = field(default_factory=Counter)  # action -> transitions folded into the summary
    alarms: set = field(default_factory=set)
    first_at: float | None = None  # wall-clock times of the folded transitions
    last_at: float | None = None


class WebhookNotifier:
    def __init__(self, url: str, secret: str = "", priorities=frozenset({1, 2, 3, 4}),
                 actions=frozenset({"raise", "acknowledge", "return"}), per_line_per_minute: int = 5,
                 claim: Callable[[str], bool] | None = None, post: Callable[[str, bytes, dict], None] = post_json,
                 clock: Callable[[], float] = time.monotonic, retry_base_s: float = 1.0, retry_max_s: float = 300.0,
                 give_up_after_s: float = 86_400.0) -> None:
        self.url, self.secret = url, secret
        self.priorities, self.actions = frozenset(priorities), frozenset(actions)
        self.per_line_per_minute = per_line_per_minute
        self.claim = claim or MemoryClaims(clock=clock)
        self.post, self.clock = post, clock
        self.retry_base_s, self.retry_max_s, self.give_up_after_s = retry_base_s, retry_max_s, give_up_after_s
        self.delivered = 0
        self.given_up = 0
        self._queue: list[_Delivery] = []
        self._windows: dict[str, _LineWindow] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the book's listener (never blocks) ------------------------------------------------

    def __call__(self, step: Step) -> None:
        record, entry = step
        if entry.action not in self.actions or record.priority not in self.priorities:
            return
        if not self.claim(f"{entry.alarm_id}|{entry.action}|{entry.at!r}"):
            return  # another process (or an earlier call) sends this transition
        now = self.clock()
        with self._lock:
            window = self._windows.get(record.line)
            if window is None or now - window.start >= RATE_WINDOW_S:
                self._flush(record.line)
                window = self._windows[record.line] = _LineWindow(now)
            if window.sent < self.per_line_per_minute:
                window.sent += 1
                self._enqueue({"event": entry.action, "at": entry.at, "user": entry.user,
                               "comment": entry.comment, "alarm": record.to_dict()}, now)
            else:
                window.folded[entry.action] += 1
                window.alarms.add(record.id)
                window.first_at = entry.at if window.first_at is None else window.first_at
                window.last_at = entry.at
        self._wake.set()

    # --- delivery ---------------------------------------------------------------------------

    def deliver_due(self) -> float:
        """Send the summaries and deliveries due now; the seconds until the next one is due."""
        now = self.clock()
        with self._lock:
            for line, window in list(self._windows.items()):
                if now - window.start >= RATE_WINDOW_S:
                    self._flush(line)
                    del self._windows[line]
            due = [d for d in self._queue if d.due <= now]
            self._queue = [d for d in self._queue if d.due > now]
        for delivery in due:
            self._try(delivery, now)
        with self._lock:
            later = [d.due for d in self._queue] + [w.start + RATE_WINDOW_S for w in self._windows.values() if w.folded]
        return max(0.0, min(later) - now) if later else 1.0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="linewatch-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.deliver_due()
            self._wake.wait(min(wait, 1.0))
            self._wake.clear()

    def _try(self, delivery: _Delivery, now: float) -> None:
        headers = {SIGNATURE_HEADER: signature(self.secret, delivery.body)} if self.secret else {}
        try:
            self.post(self.url, delivery.body, headers)
            self.delivered += 1
            return
        except (OSError, ValueError) as exc:
            delivery.attempt += 1
            wait = min(self.retry_base_s * 2 ** (delivery.attempt - 1), self.retry_max_s)
            if now + wait - delivery.first_due > self.give_up_after_s:
                self.given_up += 1
                log.error("webhook %s: gave up after %d attempts (%s)", self.url, delivery.attempt, exc)
                return
            log.warning("webhook %s: delivery failed (%s); retrying in %.0f s", self.url, exc, wait)
            delivery.due = now + wait
        with self._lock:
            self._queue.append(delivery)

    def _enqueue(self, body: dict, now: float) -> None:
        self._queue.append(_Delivery(json.dumps(body, separators=(",", ":")).encode(), first_due=now, due=now))

    def _flush(self, line: str) -> None:
        """Queue the summary of what ``line``'s window folded (the lock is held)."""
        window = self._windows.get(line)
        if window is not None and window.folded:
            self._enqueue({"event": "summary", "line": line, "first_at": window.first_at, "last_at": window.last_at,
                           "count": sum(window.folded.values()), "actions": dict(window.folded),
                           "alarms": sorted(window.alarms)}, self.clock())
            window.folded, window.alarms = Counter(), set()


def webhooks_from(config: Config) -> WebhookNotifier | None:
    """The notifier LINEWATCH_WEBHOOK_URL asks for (not started, not listening yet), or None."""
    if not config.webhook_url:
        return None
    return WebhookNotifier(config.webhook_url, config.webhook_secret, config.webhook_priorities)
