"""The node's end: signing, stopping, and the Python 3.6 syntax of what ships to the nodes."""

from __future__ import annotations

import ast
import hashlib
import hmac
import os
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from rosetta_reverse import agent_side as _agent_side
from rosetta_reverse.platform_side import ReverseListener

agent: Any = _agent_side
PACKAGE = Path(_agent_side.__file__).parent
SHIPPED = ["agent_side.py", "mux.py", "websocket.py", "frames.py"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_modules_parse_as_python_3_6(name: str) -> None:
    source = (PACKAGE / name).read_text()
    ast.parse(source, feature_version=(3, 6))
    assert "from __future__ import annotations" not in source


def test_sign_is_an_hmac_over_task_timestamp_and_nonce() -> None:
    value = agent.sign("t1", "key", now=1000.7)[agent.AUTH_HEADER]
    task, stamp, nonce, mac = value.split(" ")
    assert (task, stamp, len(nonce)) == ("t1", "1000", 32)
    expected = hmac.new(b"key", f"t1\n1000\n{nonce}".encode(), hashlib.sha256).hexdigest()
    assert mac == expected
    assert (
        agent.sign("t1", "key", now=1000)[agent.AUTH_HEADER]
        != agent.sign("t1", "key", now=1000)[agent.AUTH_HEADER]
    )


def test_stop_ends_a_dialer_that_cannot_connect() -> None:
    logged: list[str] = []
    dialer = agent.Dialer(
        "ws://127.0.0.1:1/", {}, "127.0.0.1", 1, backoff=0.01, max_backoff=0.05, log=logged.append
    )
    thread = threading.Thread(target=dialer.run)
    thread.start()
    while len(logged) < 3:
        thread.join(0.01)
    dialer.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert dialer.connections == 0
    assert "cannot reach ws://127.0.0.1:1/" in logged[0]


AGENT_36 = """
import sys, threading
from rosetta_reverse.agent_side import Dialer, sign
url, task, secret, host, port = sys.argv[1:]
dialer = Dialer(url, lambda: sign(task, secret), host, int(port), backoff=0.05)
thread = threading.Thread(target=dialer.run)
thread.start()
sys.stdin.read()
dialer.stop()
thread.join()
"""


def test_the_agent_side_runs_on_python_3_6(python36: str | None) -> None:
    interpreter = python36
    if interpreter is None:
        pytest.skip("no Python 3.6 (set ROSETTA_PYTHON36)")
    body = b"served on the node"
    target = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = target.accept()
        with conn:
            conn.recv(100)
            conn.sendall(body)

    server = threading.Thread(target=answer)
    server.start()
    with ReverseListener({"t": "k"}.__getitem__) as listener:
        process = subprocess.Popen(
            [interpreter, "-c", AGENT_36, listener.url, "t", "k", *map(str, target.getsockname()[:2])],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
        )
        try:
            assert listener.connected("t", timeout=20)
            with listener.open_stream("t") as sock:
                sock.sendall(b"hello")
                received = b""
                while chunk := sock.recv(100):
                    received += chunk
            assert received == body
        finally:
            assert process.stdin is not None
            process.stdin.close()
            assert process.wait(20) == 0
    server.join(10)
    target.close()
