"""Signed reports from agents: the per-task secret, and the checks every report must pass.

An agent signs ``task.timestamp.nonce.body`` with HMAC-SHA256 under its task's secret, which is
derived from the platform secret, so nothing per task is stored. The platform refuses a report
that is unsigned, signed for another task, older than the allowed skew, or replayed (a nonce seen
before).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

from rosetta_core.agent.status import AgentStatus, parse_status
from rosetta_core.errors import RosettaError

MAX_SKEW = 300.0
MAX_BODY = 64 * 1024


class ReportRefused(RosettaError):
    """A report failed a check; nothing was applied."""


def task_secret(platform_secret: str, task_id: str) -> str:
    """The secret a task's agent signs with (hex), derived from the platform secret."""
    return hmac.new(
        platform_secret.encode(), b"rosetta-agent:" + task_id.encode(), hashlib.sha256
    ).hexdigest()


def signature(secret: str, task_id: str, stamp: str, nonce: str, body: bytes) -> str:
    """The hex HMAC-SHA256 an agent sends for ``body``."""
    message = b".".join([task_id.encode(), stamp.encode(), nonce.encode(), body])
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class ReportVerifier:
    """Checks reports for one platform; remembers nonces for ``MAX_SKEW`` seconds. Thread-safe."""

    def __init__(
        self, platform_secret: str, *, max_skew: float = MAX_SKEW, max_nonces: int = 100_000
    ) -> None:
        self._secret = platform_secret
        self.max_skew = max_skew
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max_nonces = max_nonces
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> AgentStatus:
        """The report in ``body`` once every check passed; raises :class:`ReportRefused` naming
        the failed check otherwise (the message never contains a secret)."""
        now = time.time() if now is None else now
        lowered = {k.lower(): v for k, v in headers.items()}
        task_id = lowered.get("x-rosetta-task", "")
        stamp = lowered.get("x-rosetta-timestamp", "")
        nonce = lowered.get("x-rosetta-nonce", "")
        sent = lowered.get("x-rosetta-signature", "")
        if not (task_id and stamp and nonce and sent):
            raise ReportRefused("unsigned report")
        if len(body) > MAX_BODY:
            raise ReportRefused("report too large")
        if not stamp.isdigit() or abs(now - int(stamp)) > self.max_skew:
            raise ReportRefused("report too old or from the future")
        expected = signature(task_secret(self._secret, task_id), task_id, stamp, nonce, body)
        if not hmac.compare_digest(expected, sent):
            raise ReportRefused("bad signature")
        status = parse_status(body, task_id)
        if status is None:
            raise ReportRefused("not a report of this task")
        with self._lock:
            self._forget(now)
            if nonce in self._seen:
                raise ReportRefused("replayed report")
            self._seen[nonce] = now
        return status

    def _forget(self, now: float) -> None:
        while self._seen and (
            next(iter(self._seen.values())) < now - self.max_skew or len(self._seen) >= self._max_nonces
        ):
            self._seen.popitem(last=False)
