"""The proxy against configurable-http-proxy (JupyterHub's proxy), measured in the same run.

Run: ``.venv/bin/python benchmarks/proxy.py [--quick] [--connections 32] [--requests 200] [--runs 5]
[--idle 500]``

Both proxies run in a process of their own in front of the same upstream (a separate process: an
asyncio server answering every GET with a 1 KiB body, keep-alive, and echoing WebSocket bytes):

- throughput and latency: ``--connections`` keep-alive clients each send ``--requests`` GETs one
  after the other (an asyncio load client in this process); requests per second, p50 and p99,
  the median of ``--runs`` rounds after a warm-up round;
- memory: the resident set of each proxy process after ``--idle`` WebSocket connections are held
  open through it (and its resident set before them).

Ours gets a route with ``strip_prefix`` and a cookie minted with the same secret; the peer gets
``/t/<id>`` through its REST API. The peer is installed outside the repository when missing
(``npm install --prefix /var/lib/rosetta-bench/chp configurable-http-proxy``; ``node`` and ``npm``
are installed with apt only when missing and running as root). When it cannot be had, the reason
is printed and only our numbers are reported. No target: exits 0 unless our side fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PEER_PREFIX = Path("/var/lib/rosetta-bench/chp")
PEER_BIN = PEER_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
SECRET = "benchmark-secret"
TASK_ID = "bench"
BODY = b"x" * 1024
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------- roles run as subprocesses


async def _upstream_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    )
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            if b"upgrade: websocket" in lowered:
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                accept = base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest())
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                return
            writer.write(response)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_upstream() -> None:
    server = await asyncio.start_server(_upstream_conn, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _serve_ours(upstream_port: int, pool: int) -> None:
    from rosetta_proxy.routes import Route, RouteTable
    from rosetta_proxy.server import ProxyServer
    from rosetta_proxy.tokens import Tokens

    routes, tokens = RouteTable(), Tokens(SECRET)
    routes.add(Route(task_id=TASK_ID, owner="bench", host="127.0.0.1", port=upstream_port, strip_prefix=True))
    server = ProxyServer(routes, tokens, pool_size=pool)
    _host, port = server.start()
    print(port, tokens.mint_cookie(TASK_ID, "bench"), flush=True)
    sys.stdin.read()
    server.close()


# ---------------------------------------------------------------- processes


def _spawn(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Run this file in another role; returns the process and the words of its first line."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_peer() -> str | None:
    """``None`` when the peer is installed (installing it if needed), else why it is unavailable."""
    if PEER_BIN.exists() and shutil.which("node"):
        return None
    if not (shutil.which("node") and shutil.which("npm")):
        if os.geteuid() != 0:
            return "node/npm missing, and not root to install them (apt-get install nodejs npm)"
        if not shutil.which("apt-get"):
            return "node/npm missing, and no apt-get to install them"
        print("installing nodejs and npm with apt-get (run as root)", flush=True)
        done = subprocess.run(["apt-get", "install", "-y", "nodejs", "npm"], capture_output=True, text=True)
        if done.returncode != 0:
            return f"apt-get install nodejs npm failed: {done.stderr.strip()[-200:]}"
    print(f"installing configurable-http-proxy under {PEER_PREFIX}", flush=True)
    try:
        PEER_PREFIX.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--prefix", str(PEER_PREFIX), "configurable-http-proxy"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm install failed: {exc}"
    if done.returncode != 0 or not PEER_BIN.exists():
        return f"npm install failed: {done.stderr.strip()[-200:]}"
    return None


def _start_peer(upstream_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port, api_port, token = _free_port(), _free_port(), secrets.token_hex(16)
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": token}
    proc = subprocess.Popen(
        [
            *(str(PEER_BIN), "--ip", "127.0.0.1", "--port", str(port)),
            *("--api-ip", "127.0.0.1", "--api-port", str(api_port), "--log-level", "warn"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    body = json.dumps({"target": f"http://127.0.0.1:{upstream_port}"}).encode()
    deadline = time.monotonic() + 20
    while True:
        request = urllib.request.Request(
            f"http://127.0.0.1:{api_port}/api/routes/t/{TASK_ID}",
            data=body,
            method="POST",
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status in (200, 201):
                    return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the peer did not start") from None
            time.sleep(0.1)


# ---------------------------------------------------------------- load


async def _client(port: int, headers: bytes, count: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /t/%s/data HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n" % (TASK_ID.encode(), port, headers)
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head[:60]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load(port: int, headers: bytes, connections: int, requests: int) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 latency in seconds."""
    latencies: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(port, headers, requests, latencies) for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    quantiles = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, quantiles[49], quantiles[98]


async def _hold_websockets(port: int, headers: bytes, count: int) -> list[asyncio.StreamWriter]:
    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(secrets.token_bytes(16))
        writer.write(
            b"GET /t/%s/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n%s\r\n"
            % (TASK_ID.encode(), port, key, headers)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"no upgrade: {head[:60]!r}")
        return writer

    writers: list[asyncio.StreamWriter] = []
    for start in range(0, count, 50):
        writers += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return writers


@dataclasses.dataclass
class Side:
    """One proxy under test: its process, port, the headers its requests need, and its results."""

    name: str
    pid: int
    port: int
    headers: bytes
    rounds: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)

    def load(self, args: argparse.Namespace, requests: int) -> tuple[float, float, float]:
        return asyncio.run(_load(self.port, self.headers, args.connections, requests))

    def memory(self, args: argparse.Namespace) -> tuple[float, float]:
        """RSS in MiB now, and while ``--idle`` WebSockets are held open through it."""
        before = _rss_kib(self.pid)

        async def hold() -> int:
            writers = await _hold_websockets(self.port, self.headers, args.idle)
            await asyncio.sleep(1.0)
            rss = _rss_kib(self.pid)
            for writer in writers:
                writer.close()
            await asyncio.sleep(0.5)  # the proxy sees the closes before it is stopped
            return rss

        return before / 1024, asyncio.run(hold()) / 1024


def _measure(ours: Side, peer: Side | None, args: argparse.Namespace) -> tuple[dict[str, float], ...]:
    """Both sides' results; load rounds alternate between them, so background noise hits both alike.

    A peer that fails is dropped (the reason is printed); our failures propagate.
    """
    sides = [ours] if peer is None else [ours, peer]
    for _ in range(args.runs + 1):  # the first round warms up (the upstream pool, the peer's JIT)
        for side in list(sides):
            try:
                side.rounds.append(side.load(args, args.requests))
            except (RuntimeError, OSError, asyncio.IncompleteReadError) as exc:
                if side is ours:
                    raise
                print(f"peer unavailable: it failed during the run: {exc}")
                sides.remove(side)
    results = []
    for side in sides:
        rounds = side.rounds[1:]
        rps, p50, p99 = (statistics.median(r[i] for r in rounds) for i in range(3))
        try:
            rss, held = side.memory(args)
        except (RuntimeError, OSError, asyncio.IncompleteReadError) as exc:
            if side is ours:
                raise
            print(f"peer unavailable: it failed while holding WebSockets: {exc}")
            break
        results.append({"rps": rps, "p50": p50 * 1000, "p99": p99 * 1000, "rss": rss, "ws": held})
    return tuple(results)


# ---------------------------------------------------------------- report


def _report(ours: dict[str, float], peer: dict[str, float] | None, args: argparse.Namespace) -> None:
    rows = [
        ("rps", f"requests/s, {args.connections} keep-alive clients", "{:.0f}"),
        ("p50", "latency p50 (ms)", "{:.2f}"),
        ("p99", "latency p99 (ms)", "{:.2f}"),
        ("rss", "RSS after the load (MiB)", "{:.1f}"),
        ("ws", f"RSS holding {args.idle} idle WebSockets (MiB)", "{:.1f}"),
    ]
    print(f"{'measurement':<46}{'ours':>10}{'peer':>10}{'ratio':>8}")
    for key, label, fmt in rows:
        theirs = fmt.format(peer[key]) if peer else "-"
        ratio = f"{ours[key] / peer[key]:.2f}x" if peer and peer[key] else "-"
        print(f"{label:<46}{fmt.format(ours[key]):>10}{theirs:>10}{ratio:>8}")
    total = args.connections * args.requests
    print(
        f"(our upstream_pool: {args.upstream_pool}; median of {args.runs} rounds of {total} requests "
        "of 1 KiB each side; ratio: ours / peer; peer: configurable-http-proxy)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and WebSockets")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=200, help="per connection")
    parser.add_argument("--runs", type=int, default=5, help="load rounds per side (median)")
    parser.add_argument("--idle", type=int, default=500, help="idle WebSockets held open")
    parser.add_argument(
        "--upstream-pool",
        type=int,
        default=32,
        help="our idle upstream connections kept (the option's default: 32)",
    )
    parser.add_argument("--role", choices=("upstream", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "upstream":
        asyncio.run(_serve_upstream())
        return 0
    if args.role == "ours":
        _serve_ours(args.upstream_port, args.upstream_pool)
        return 0
    if args.quick:
        args.requests, args.idle, args.runs = 50, 100, 1

    upstream, words = _spawn("--role", "upstream")
    node: subprocess.Popen[bytes] | None = None
    try:
        upstream_port = int(words[0])
        proc, words = _spawn(
            "--role",
            "ours",
            "--upstream-port",
            str(upstream_port),
            "--upstream-pool",
            str(args.upstream_pool),
        )
        try:
            port, cookie = int(words[0]), words[1]
            ours = Side("ours", proc.pid, port, b"Cookie: rosetta_proxy=%s\r\n" % cookie.encode())
            peer: Side | None = None
            reason = _ensure_peer()
            if reason is None:
                try:
                    node, peer_port = _start_peer(upstream_port)
                    peer = Side("peer", node.pid, peer_port, b"")
                except (RuntimeError, OSError) as exc:
                    reason = str(exc)
            if reason is not None:
                print(f"peer unavailable: {reason}")
            results = _measure(ours, peer, args)
        finally:
            _stop(proc)
        _report(results[0], results[1] if len(results) > 1 else None, args)
    finally:
        if node is not None:
            node.terminate()
            node.wait()
        _stop(upstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
