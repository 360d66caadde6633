"""The node side as one agent extension: it runs from its source alone, on Python 3.6 too."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
import threading

import pytest

from rosetta_core.agent.extensions import AgentExtension
from rosetta_reverse.bundle import SHIPPED, extension_source
from rosetta_reverse.platform_side import ReverseListener

# the agent's way of running an extension, with nothing else importable (-I -S: no site-packages)
DRIVER = """
import sys
namespace = {"__name__": "extension"}
exec(compile(sys.stdin.readline().encode().decode("unicode_escape"), "<extension>", "exec"), namespace)
url, task, secret, host, port = sys.argv[1:]
handle = namespace["start"]({"url": url, "task": task, "secret": secret}, host, int(port), print)
sys.stdin.read()
handle.stop()
"""


def test_the_source_parses_as_python_3_6_and_is_a_valid_extension() -> None:
    source = extension_source()
    ast.parse(source, feature_version=(3, 6))
    assert all(f"({name!r}, " in source for name in SHIPPED)
    AgentExtension(name="reverse", source=source)


def serve_once(body: bytes) -> tuple[socket.socket, threading.Thread]:
    target = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = target.accept()
        with conn:
            conn.recv(100)
            conn.sendall(body)

    thread = threading.Thread(target=answer)
    thread.start()
    return target, thread


@pytest.mark.parametrize("version", ["current", "3.6"])
def test_the_extension_dials_and_serves_streams_with_nothing_installed(
    version: str, python36: str | None
) -> None:
    interpreter = sys.executable if version == "current" else python36
    if interpreter is None:
        pytest.skip("no Python 3.6 (set ROSETTA_PYTHON36)")
    body = b"served on the node"
    target, server = serve_once(body)
    with ReverseListener({"t": "k"}.__getitem__) as listener:
        host, port = target.getsockname()[:2]
        process = subprocess.Popen(
            [interpreter, "-I", "-S", "-c", DRIVER, listener.url, "t", "k", host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(extension_source().encode("unicode_escape").decode() + "\n")
            process.stdin.flush()
            assert listener.connected("t", timeout=20)
            with listener.open_stream("t") as sock:
                sock.sendall(b"hello")
                received = b""
                while chunk := sock.recv(100):
                    received += chunk
            assert received == body
        finally:
            process.stdin.close()
            assert process.wait(20) == 0
        assert "tunnel to 127.0.0.1:" in process.stdout.read()
        process.stdout.close()
    server.join(10)
    target.close()


def test_an_interface_without_a_port_is_refused() -> None:
    namespace: dict[str, object] = {}
    exec(compile(extension_source(), "<extension>", "exec"), namespace)
    start = namespace["start"]
    assert callable(start)
    with pytest.raises(ValueError, match="no interface port"):
        start({"url": "ws://127.0.0.1:1/", "task": "t", "secret": "k"}, "127.0.0.1", None, print)
