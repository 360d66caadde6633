"""Signed agent reports: refused unless signed for that task, fresh and never seen before."""

from __future__ import annotations

import json
import threading

import pytest

from rosetta_core.agent.reports import ReportRefused, ReportVerifier, signature, task_secret

PLATFORM_SECRET = "p" * 64
NOW = 1_800_000_000.0


def signed(task: str = "t1", *, body_task: str | None = None, stamp: float = NOW, nonce: str = "n1",
           key_task: str | None = None) -> tuple[dict[str, str], bytes]:  # fmt: skip
    body = json.dumps({"task": body_task or task, "state": "running", "host": "h", "port": 4000}).encode()
    secret = task_secret(PLATFORM_SECRET, key_task or task)
    headers = {
        "X-Rosetta-Task": task,
        "X-Rosetta-Timestamp": str(int(stamp)),
        "X-Rosetta-Nonce": nonce,
        "X-Rosetta-Signature": signature(secret, task, str(int(stamp)), nonce, body),
    }
    return headers, body


def test_a_signed_report_is_accepted_once() -> None:
    verifier = ReportVerifier(PLATFORM_SECRET)
    headers, body = signed()
    status = verifier.verify(headers, body, now=NOW)
    assert (status.task, status.state, status.port) == ("t1", "running", 4000)
    with pytest.raises(ReportRefused, match="replayed"):
        verifier.verify(headers, body, now=NOW + 1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ({}, b"{}"), "unsigned"),
        (lambda: signed(stamp=NOW - 3600), "too old"),
        (lambda: signed(stamp=NOW + 3600), "future"),
        (lambda: signed(key_task="t2"), "bad signature"),  # another task's secret
        (lambda: signed(body_task="t2"), "not a report of this task"),  # a body about another task
    ],
)
def test_refused_reports(make: object, message: str) -> None:
    headers, body = make()  # type: ignore[operator]
    with pytest.raises(ReportRefused, match=message):
        ReportVerifier(PLATFORM_SECRET).verify(headers, body, now=NOW)


def test_a_tampered_body_is_refused() -> None:
    headers, body = signed()
    with pytest.raises(ReportRefused, match="bad signature"):
        ReportVerifier(PLATFORM_SECRET).verify(headers, body.replace(b"4000", b"4001"), now=NOW)


def test_secrets_differ_per_task_and_platform() -> None:
    assert task_secret(PLATFORM_SECRET, "t1") != task_secret(PLATFORM_SECRET, "t2")
    assert task_secret(PLATFORM_SECRET, "t1") != task_secret("q" * 64, "t1")


def test_concurrent_replays_are_accepted_exactly_once() -> None:
    verifier = ReportVerifier(PLATFORM_SECRET)
    headers, body = signed()
    accepted: list[bool] = []

    def attempt() -> None:
        try:
            verifier.verify(headers, body, now=NOW)
            accepted.append(True)
        except ReportRefused:
            pass

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert accepted == [True]
