"""The tasks' proxy against no proxy, nginx and configurable-http-proxy, measured in one run.

Run: ``.venv/bin/python benchmarks/proxy.py [--quick] [--connections 32] [--duration 10] [--runs 3]
[--hold 500] [--hold-seconds 60]``

Four sides are measured in front of the same backends: **direct** (no proxy), **nginx** as a
reverse proxy (HTTP/1.1 and keep-alive to the upstream, WebSocket upgrade headers),
**chp** (configurable-http-proxy, JupyterHub's proxy, from the npm registry) and **ours**
(``rosetta_proxy.server.ProxyServer`` with a route per backend and the owner's cookie). The backends
are an nginx origin serving a 1 KiB and a 10 MiB file, and a WebSocket echo server (Python, on
uvloop). Each side is measured with:

- small requests: ``wrk`` with ``--connections`` keep-alive connections for ``--duration`` s on the
  1 KiB file; requests per second and the 99th percentile latency;
- large responses: ``wrk`` with 4 connections on the 10 MiB file; MiB per second;
- WebSocket round trips: an asyncio client (uvloop) with 16 connections, each sending a small
  frame and waiting for its echo, for half of ``--duration``; round trips per second.

After a short warm-up, rounds alternate between the sides (background noise hits all alike) and
the median of ``--runs`` is reported, with each number's ratio to direct. Ours then holds ``--hold``
WebSocket connections open for ``--hold-seconds`` (each sends a frame and checks its echo every few
seconds), and its resident set is reported at the start and the end of the hold. Last, the route
of a task is timed in this process, through a kernel with the proxy plugin: from the task being
marked running (the store's transition, then ``Connections.keep_open`` as ``rosetta serve`` calls
it after a reconcile pass) to the first proxied 200.

Every service listens on 127.0.0.1 and is stopped at the end, also on Ctrl-C or an error. ``wrk``
and ``nginx`` are installed with apt when missing and running as root (saying so); chp is installed
with npm under ``/var/lib/rosetta-bench/chp`` (``node`` and ``npm`` with apt, likewise). A peer
that cannot be had is reported as unavailable. Exits 1 when one of our targets is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import uvloop

PEER_PREFIX = Path("/var/lib/rosetta-bench/chp")
PEER_BIN = PEER_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
SECRET = "benchmark-secret"
OWNER = "bench"
HTTP_TASK, WS_TASK = "bench", "ws"
SMALL_PATH, BIG_PATH, WS_PATH = "/t/bench/small", "/t/bench/big", "/t/ws/echo"
SMALL_SIZE, BIG_SIZE = 1024, 10 * 1024 * 1024
BIG_CONNECTIONS, WS_CONNECTIONS = 4, 16
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# a masked text frame with a 16-byte payload; the echo server returns the bytes as they are
WS_FRAME = bytes([0x81, 0x80 | 16]) + b"mask" + bytes(16)
# the targets, against chp
RPS_TARGET = 1.5
ROUTE_TARGET_MS = 10.0
HOLD_GROWTH_MIB = 5.0
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %.0f %.0f %.0f %.0f %.0f\\n", summary.requests, summary.duration,
    summary.bytes, e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(99)))
end
"""


# ---------------------------------------------------------------- roles run as subprocesses


async def _echo_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer one WebSocket upgrade, then echo every byte until the client closes."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, StopIteration):
        pass
    finally:
        writer.close()


async def _serve_echo() -> None:
    server = await asyncio.start_server(_echo_conn, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _serve_ours(origin_port: int, echo_port: int, pool: int) -> None:
    from rosetta_proxy.routes import Route, RouteTable
    from rosetta_proxy.server import ProxyServer
    from rosetta_proxy.tokens import Tokens

    routes, tokens = RouteTable(), Tokens(SECRET)
    for task_id, port in ((HTTP_TASK, origin_port), (WS_TASK, echo_port)):
        routes.add(Route(task_id=task_id, owner=OWNER, host="127.0.0.1", port=port))
    server = ProxyServer(routes, tokens, pool_size=pool)
    _host, port = server.start()
    print(port, tokens.mint_cookie(HTTP_TASK, OWNER), tokens.mint_cookie(WS_TASK, OWNER), flush=True)
    sys.stdin.read()
    server.close()


# ---------------------------------------------------------------- processes and tools


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20.0) -> None:
    """Return once ``port`` accepts connections; raises ``RuntimeError`` if ``proc`` dies first."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _apt_install(*packages: str) -> str | None:
    """``None`` once ``packages`` are installed with apt-get, else why they could not be."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"not root with apt-get to install {' '.join(packages)}"
    print(f"installing {' '.join(packages)} with apt-get (running as root)", flush=True)
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:  # a stale package list: refresh it once
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    return None if done.returncode == 0 else f"apt-get install failed: {done.stderr.strip()[-200:]}"


def _ensure_tools() -> str | None:
    """``None`` when ``wrk`` and ``nginx`` are there (installing them if needed), else why not."""
    missing = {"wrk": "wrk", "nginx": "nginx-light"}
    wanted = [pkg for tool, pkg in missing.items() if not _which(tool)]
    if wanted and (reason := _apt_install(*wanted)) is not None:
        return reason
    return None if all(_which(tool) for tool in missing) else "wrk or nginx is still missing"


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")


def _ensure_peer() -> str | None:
    """``None`` when chp is installed (installing it if needed), else why it is unavailable."""
    if PEER_BIN.exists() and shutil.which("node"):
        return None
    if not (shutil.which("node") and shutil.which("npm")) and (reason := _apt_install("nodejs", "npm")):
        return reason
    print(f"installing configurable-http-proxy under {PEER_PREFIX}", flush=True)
    try:
        PEER_PREFIX.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--prefix", str(PEER_PREFIX), "configurable-http-proxy"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm install failed: {exc}"
    if done.returncode != 0 or not PEER_BIN.exists():
        return f"npm install failed: {done.stderr.strip()[-200:]}"
    return None


class Services:
    """The processes of a run; :meth:`stop` ends every one of them (in reverse order), once.

    Children get sessions of their own, so a Ctrl-C reaches only this process, which stops them.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], *, stdin: bool = False, stdout: bool = False) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=None if stdout else subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def role(self, *args: str) -> tuple[subprocess.Popen[bytes], list[str]]:
        """Run this file in another role; the process and the words of its first line."""
        proc = self.spawn([sys.executable, __file__, *args], stdin=True, stdout=True)
        assert proc.stdout is not None
        words = proc.stdout.readline().decode().split()
        if not words:
            raise RuntimeError(f"the {args[1]} role did not start")
        return proc, words

    def nginx(self, name: str, server: str, upstreams: str = "") -> int:
        """Run nginx (one worker, loopback only) with ``server`` (``{port}`` filled in); its port."""
        port = _free_port()
        conf = self.tmp / f"{name}.conf"
        conf.write_text(_NGINX_CONF.format(tmp=self.tmp, name=name, upstreams=upstreams, server=server))
        conf.write_text(conf.read_text().replace("@PORT@", str(port)))
        nginx = _which("nginx")
        assert nginx is not None
        proc = self.spawn([nginx, "-c", str(conf), "-p", str(self.tmp), "-e", str(self.tmp / f"{name}.err")])
        _wait_port(port, proc, f"nginx ({name})")
        return port

    def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc in reversed(procs):
            if proc.stdin is not None:
                proc.stdin.close()  # the Python roles end when their input does
            elif proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    fastcgi_temp_path {tmp}/{name}-fastcgi;
    uwsgi_temp_path {tmp}/{name}-uwsgi;
    scgi_temp_path {tmp}/{name}-scgi;
    keepalive_requests 1000000;
    {upstreams}
    server {{
        listen 127.0.0.1:@PORT@ backlog=1024;
        {server}
    }}
}}
"""

_ORIGIN_SERVER = "root {root};"

_PROXY_UPSTREAMS = """
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 32; }}
    upstream echo {{ server 127.0.0.1:{echo}; keepalive 32; }}
"""

_PROXY_SERVER = """
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_max_temp_file_size 0;
        location /t/bench/ {
            proxy_pass http://origin;
            proxy_set_header Connection "";
        }
        location /t/ws/ {
            proxy_pass http://echo;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 3600s;
        }
"""


def _start_chp(services: Services, origin: int, echo: int) -> int:
    """Run chp with a route per backend (through its REST API); its port."""
    port, api_port, token = _free_port(), _free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(
        [
            *(str(PEER_BIN), "--ip", "127.0.0.1", "--port", str(port)),
            *("--api-ip", "127.0.0.1", "--api-port", str(api_port), "--log-level", "warn"),
        ],
        env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    services._procs.append(proc)
    _wait_port(api_port, proc, "chp")
    for prefix, target in ((f"/t/{HTTP_TASK}", origin), (f"/t/{WS_TASK}", echo)):
        request = urllib.request.Request(
            f"http://127.0.0.1:{api_port}/api/routes{prefix}",
            data=json.dumps({"target": f"http://127.0.0.1:{target}"}).encode(),
            method="POST",
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            if reply.status not in (200, 201):
                raise RuntimeError(f"chp refused the route {prefix}: {reply.status}")
    return port


# ---------------------------------------------------------------- load


@dataclasses.dataclass
class Side:
    """One way to the backends: its port, the headers its HTTP and WebSocket requests need."""

    name: str
    port: int
    http_headers: list[str] = dataclasses.field(default_factory=list)
    ws_headers: bytes = b""
    results: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    ws_port: int = 0  # where WebSockets go, when not ``port`` (direct: the echo server)

    def __post_init__(self) -> None:
        self.ws_port = self.ws_port or self.port

    def add(self, key: str, value: float) -> None:
        self.results.setdefault(key, []).append(value)

    def median(self, key: str) -> float | None:
        values = self.results.get(key)
        return statistics.median(values) if values else None


def _wrk(side: Side, path: str, connections: int, seconds: float, script: Path) -> tuple[float, float, float]:
    """Run wrk against ``side``; requests/s, bytes/s and p99 latency (s). Raises on any error."""
    wrk = _which("wrk")
    assert wrk is not None
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    for header in side.http_headers:
        command += ["-H", header]
    command += ["-s", str(script), f"http://127.0.0.1:{side.port}{path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed on {side.name}: {done.stderr.strip()[-200:]}")
    requests, micros, size, errors, p99 = (float(x) for x in line.split()[1:])
    if errors or not requests:
        raise RuntimeError(f"{side.name}: {errors:.0f} errors in {requests:.0f} requests ({path})")
    elapsed = micros / 1e6
    return requests / elapsed, size / elapsed, p99 / 1e6


async def _ws_open(port: int, headers: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(secrets.token_bytes(16))
    writer.write(
        b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n%s\r\n"
        % (WS_PATH.encode(), port, key, headers)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise RuntimeError(f"no WebSocket upgrade: {head[:60]!r}")
    return reader, writer


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(WS_FRAME)
    if await reader.readexactly(len(WS_FRAME)) != WS_FRAME:
        raise RuntimeError("the echo differs from the frame sent")


async def _ws_round_trips(side: Side, seconds: float) -> float:
    """WebSocket round trips per second over ``WS_CONNECTIONS`` connections."""
    conns = await asyncio.gather(*(_ws_open(side.ws_port, side.ws_headers) for _ in range(WS_CONNECTIONS)))
    deadline = time.perf_counter() + seconds

    async def loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        count = 0
        while time.perf_counter() < deadline:
            await _round_trip(reader, writer)
            count += 1
        return count

    t0 = time.perf_counter()
    try:
        counts = await asyncio.gather(*(loop(r, w) for r, w in conns))
    finally:
        for _reader, writer in conns:
            writer.close()
    return sum(counts) / (time.perf_counter() - t0)


def _measure(sides: list[Side], args: argparse.Namespace, script: Path) -> None:
    """Fill each side's results; a failing peer is dropped (saying why), our failures propagate."""
    kinds: list[tuple[str, Callable[[Side, float], None]]] = [
        ("small", lambda s, t: _small(s, t, args.connections, script)),
        ("big", lambda s, t: _big(s, t, script)),
        ("ws", lambda s, t: s.add("ws", uvloop.run(_ws_round_trips(s, t)))),
    ]
    for kind, run in kinds:
        seconds = args.duration if kind == "small" else args.duration / 2
        for round_ in range(args.runs + 1):
            for side in list(sides):
                try:
                    if round_ == 0:  # warm-up: pools, caches, the JIT; not counted
                        run(dataclasses.replace(side, results={}), 1.0)
                    else:
                        run(side, seconds)
                except (RuntimeError, OSError, asyncio.IncompleteReadError, subprocess.TimeoutExpired) as exc:
                    if side.name in ("direct", "ours"):
                        raise
                    print(f"{side.name} unavailable: it failed during the run: {exc}", flush=True)
                    sides.remove(side)
        print(f"measured: {kind}", flush=True)


def _small(side: Side, seconds: float, connections: int, script: Path) -> None:
    rps, _bps, p99 = _wrk(side, SMALL_PATH, connections, seconds, script)
    side.add("rps", rps)
    side.add("p99", p99 * 1000)


def _big(side: Side, seconds: float, script: Path) -> None:
    _rps, bps, _p99 = _wrk(side, BIG_PATH, BIG_CONNECTIONS, seconds, script)
    side.add("mib", bps / 2**20)


# ---------------------------------------------------------------- holding WebSockets


@dataclasses.dataclass
class Hold:
    """What holding WebSockets through ours showed."""

    count: int
    seconds: float
    errors: int
    rss_start: float
    rss_end: float

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.rss_end - self.rss_start <= HOLD_GROWTH_MIB


async def _hold(side: Side, pid: int, count: int, seconds: float) -> Hold:
    """Open ``count`` WebSockets, keep them ``seconds``, a round trip on each every few seconds."""
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    errors = 0
    for start in range(0, count, 50):
        batch = range(min(50, count - start))
        conns += await asyncio.gather(*(_ws_open(side.ws_port, side.ws_headers) for _ in batch))

    async def every_one() -> int:
        done = await asyncio.gather(*(_round_trip(r, w) for r, w in conns), return_exceptions=True)
        return sum(isinstance(d, BaseException) for d in done)

    try:
        errors += await every_one()
        rss_start = _rss_kib(pid) / 1024
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(5.0, left))
            errors += await every_one()
        rss_end = _rss_kib(pid) / 1024
    finally:
        for _reader, writer in conns:
            writer.close()
        await asyncio.sleep(0.2)
    return Hold(count, seconds, errors, rss_start, rss_end)


# ---------------------------------------------------------------- a route going live


def _route_live(origin: int, tmp: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Milliseconds from a task marked running to its first proxied 200, and from the route added.

    A kernel with only the proxy plugin, a resource with ``tunnel = "proxy"``: each task goes
    from ``starting`` to ``running`` (with the origin as its interface) in the store; from that
    commit on, ``Connections.keep_open`` opens its route, as ``rosetta serve`` does after a
    reconcile pass, and the route is tried on a new connection until it answers 200. The second
    list times ``ProxyTunnel.open_route`` alone. Each task is ended before the next.
    """
    from rosetta_core.config import parse_config
    from rosetta_core.kernel import create_kernel
    from rosetta_core.model import Computing, Software, Task, TaskStatus
    from rosetta_proxy import plugin
    from rosetta_proxy.tunnel import ProxyTunnel

    config = {"rosetta": {"store": str(tmp / "store.sqlite")}, "plugin": {"proxy": {"listen": "127.0.0.1:0"}}}
    kernel = create_kernel(parse_config(config, base_dir=tmp), plugins={"proxy": plugin})
    kernel.start(reconcile=False)
    try:
        tunnel = kernel.tunnels.get("proxy")
        assert isinstance(tunnel, ProxyTunnel)
        host, port = tunnel.start()
        kernel.store.add(Software(name="web", image="x/web", interface_port=origin))
        kernel.store.add(Computing(name="here", engines=("podman",), options={"tunnel": "proxy"}))
        running, opened = [], []
        for i in range(repeats + 1):  # the first one warms up (imports, the upstream connection)
            task = Task(
                name=f"t{i}", owner=OWNER, software="web", computing="here", status=TaskStatus.STARTING
            )
            kernel.store.create_task(task)
            cookie = f"rosetta_proxy={tunnel.tokens.mint_cookie(task.id, OWNER)}"
            kernel.store.transition(
                task.id,
                TaskStatus.STARTING,
                TaskStatus.RUNNING,
                interface_host="127.0.0.1",
                interface_port=origin,
            )
            t0 = time.perf_counter()  # the task is marked running: its transition is committed
            kernel.connections.keep_open()
            running.append(_first_ok(host, port, f"/t/{task.id}/t/bench/small", cookie, t0))
            tunnel.close(task.id)
            t0 = time.perf_counter()
            tunnel.open_route(kernel.store.get_task(task.id), strip_prefix=True)
            opened.append(_first_ok(host, port, f"/t/{task.id}/t/bench/small", cookie, t0))
            kernel.store.transition(task.id, TaskStatus.RUNNING, TaskStatus.EXITED)
            tunnel.close(task.id)
        return running[1:], opened[1:]
    finally:
        kernel.close()


def _first_ok(host: str, port: int, path: str, cookie: str, t0: float) -> float:
    """Milliseconds since ``t0`` when ``path`` first answers 200 (a new connection per try)."""
    while True:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", path, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        if response.status == 200:
            return (time.perf_counter() - t0) * 1000
        if time.perf_counter() - t0 > 5:
            raise RuntimeError(f"the route did not go live: {response.status}")


# ---------------------------------------------------------------- report


_ROWS = [
    ("rps", "small GET, requests/s", "{:.0f}", True),
    ("p99", "small GET, p99 latency (ms)", "{:.2f}", False),
    ("mib", "10 MiB GET, MiB/s", "{:.0f}", True),
    ("ws", "WebSocket round trips/s", "{:.0f}", True),
]


def _table(sides: list[Side], args: argparse.Namespace) -> None:
    names = ["direct", "nginx", "chp", "ours"]
    by_name = {side.name: side for side in sides}
    print(f"\n{'measurement':<30}" + "".join(f"{n:>17}" for n in names))
    for key, label, fmt, _higher in _ROWS:
        base = by_name["direct"].median(key)
        cells = []
        for name in names:
            value = by_name[name].median(key) if name in by_name else None
            if value is None:
                cells.append("-")
            else:
                ratio = f" ({value / base:.2f}x)" if base else ""
                cells.append(fmt.format(value) + ratio)
        print(f"{label:<30}" + "".join(f"{c:>17}" for c in cells))
    print(
        f"(median of {args.runs} rounds; ratios to direct in parentheses; small: {args.connections} "
        f"connections for {args.duration:g} s, wrk -t1; 10 MiB: {BIG_CONNECTIONS} connections; "
        f"WebSocket: {WS_CONNECTIONS} connections, 16-byte frames)"
    )


def _verdicts(sides: list[Side], hold: Hold, running: list[float], opened: list[float]) -> bool:
    """Print a PASS or FAIL line per target; whether every one passed (chp missing: not judged)."""
    by_name = {side.name: side for side in sides}
    ours, chp = by_name["ours"], by_name.get("chp")
    lines: list[tuple[bool | None, str]] = []

    def against(key: str, wanted: str, ok: Callable[[float, float], bool], fmt: str) -> None:
        mine, theirs = ours.median(key), chp.median(key) if chp else None
        if mine is None or theirs is None:
            lines.append((None, f"{wanted}: chp not measured"))
            return
        lines.append((ok(mine, theirs), f"{wanted}: {fmt.format(mine)} against {fmt.format(theirs)}"))

    against("rps", f"requests/s at least {RPS_TARGET}x chp's", lambda a, b: a >= RPS_TARGET * b, "{:.0f}")
    against("p99", "p99 latency below chp's (ms)", lambda a, b: a < b, "{:.2f}")
    against("ws", "WebSocket round trips/s at least chp's", lambda a, b: a >= b, "{:.0f}")
    against("mib", "10 MiB throughput at least chp's (MiB/s)", lambda a, b: a >= b, "{:.0f}")
    lines.append(
        (
            hold.ok,
            f"{hold.count} WebSockets held {hold.seconds:g} s: {hold.errors} errors, RSS "
            f"{hold.rss_start:.1f} MiB at the start, {hold.rss_end:.1f} MiB at the end "
            f"(flat: at most {HOLD_GROWTH_MIB:g} MiB more)",
        )
    )
    worst = max(running)
    lines.append(
        (
            worst < ROUTE_TARGET_MS,
            f"a route live within {ROUTE_TARGET_MS:g} ms of the task marked running: median "
            f"{statistics.median(running):.2f} ms, worst {worst:.2f} ms of {len(running)} "
            f"(the route added alone: median {statistics.median(opened):.2f} ms, worst {max(opened):.2f} ms)",
        )
    )
    print("\ntargets:")
    for ok, text in lines:
        print(f"  {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}  {text}")
    return all(ok is not False for ok, _text in lines)


# ---------------------------------------------------------------- main


def _sides(services: Services, args: argparse.Namespace) -> tuple[list[Side], int, int]:
    """Start the backends and the proxies; the sides that started, our pid, the origin's port."""
    tmp = services.tmp
    root = tmp / "www"
    (root / "t" / "bench").mkdir(parents=True)
    # nginx's workers run as an unprivileged user under root: they must reach the files
    tmp.chmod(0o711)
    for folder in (root, root / "t", root / "t" / "bench"):
        folder.chmod(0o755)
    (root / SMALL_PATH.lstrip("/")).write_bytes(b"x" * SMALL_SIZE)
    (root / BIG_PATH.lstrip("/")).write_bytes(os.urandom(BIG_SIZE))
    origin = services.nginx("origin", _ORIGIN_SERVER.format(root=root))
    _echo_proc, words = services.role("--role", "echo")
    echo = int(words[0])
    ours_proc, words = services.role(
        *("--role", "ours", "--origin-port", str(origin), "--echo-port", str(echo)),
        *("--upstream-pool", str(args.upstream_pool)),
    )
    sides = [
        Side("direct", origin, ws_port=echo),
        Side(
            "ours",
            int(words[0]),
            [f"Cookie: rosetta_proxy={words[1]}"],
            b"Cookie: rosetta_proxy=%s\r\n" % words[2].encode(),
        ),
    ]
    try:
        upstreams = _PROXY_UPSTREAMS.format(origin=origin, echo=echo)
        sides.insert(1, Side("nginx", services.nginx("proxy", _PROXY_SERVER, upstreams)))
    except (RuntimeError, OSError) as exc:
        print(f"nginx unavailable as a proxy: {exc}", flush=True)
    reason = _ensure_peer()
    if reason is None:
        try:
            sides.insert(-1, Side("chp", _start_chp(services, origin, echo)))
        except (RuntimeError, OSError) as exc:
            reason = str(exc)
    if reason is not None:
        print(f"chp unavailable: {reason}", flush=True)
    return sides, ours_proc.pid, origin


def _run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="rosetta-bench-proxy-") as name:
        services = Services(Path(name))
        try:
            sides, ours_pid, origin = _sides(services, args)
            script = services.tmp / "report.lua"
            script.write_text(WRK_SCRIPT)
            _measure(sides, args, script)
            ours = next(s for s in sides if s.name == "ours")
            hold = uvloop.run(_hold(ours, ours_pid, args.hold, args.hold_seconds))
            print("measured: held WebSockets", flush=True)
            running, opened = _route_live(origin, services.tmp, 20)
        finally:
            services.stop()
    _table(sides, args)
    return 0 if _verdicts(sides, hold, running, opened) else 1


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the services are stopped on the way


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round, a 5 s hold")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for small requests")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per small-request round")
    parser.add_argument("--runs", type=int, default=3, help="rounds per side (median)")
    parser.add_argument("--hold", type=int, default=500, help="WebSockets held open through ours")
    parser.add_argument("--hold-seconds", type=float, default=60.0)
    parser.add_argument("--upstream-pool", type=int, default=32, help="our idle upstream connections")
    parser.add_argument("--role", choices=("echo", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--origin-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--echo-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "echo":
        uvloop.run(_serve_echo())
        return 0
    if args.role == "ours":
        _serve_ours(args.origin_port, args.echo_port, args.upstream_pool)
        return 0
    if args.quick:
        args.runs, args.duration, args.hold_seconds = 1, 3.0, 5.0
    signal.signal(signal.SIGTERM, _terminate)
    if (reason := _ensure_tools()) is not None:
        print(f"cannot run: {reason}")
        return 2
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
