#!/usr/bin/env python3
"""Smoke-test the images built by ``images/build.sh`` on Podman, Docker and Apptainer.

Usage (as root)::

    python3 images/smoke.py [--engines podman,docker,apptainer] [--keep-going] [image ...]

Every container is started the way the platform starts it (``--pull=never``, the interface port
published on 127.0.0.1 only, ``BASE_PORT`` set to a port that is not the image's default,
``AUTH_PASS``/``AUTH_USER`` set, ``BASE_URL`` a prefix for the web interfaces) and removed again.
Apptainer runs the SIFs with ``--containall --cleanenv --no-eval --writable-tmpfs`` on a free
host port (it shares the host's network). Checks:

* http: the page (at / and under BASE_URL) contains "rosetta-http OK";
* jupyter: ``/api/status`` answers 200 with the token and 403 without; a kernel started over
  REST runs ``print(6*7)`` over the kernel WebSocket and prints 42;
* desktop: ``vnc.html`` (at / and under BASE_URL) is noVNC, the websockify WebSocket answers
  "RFB 003.00x" and offers VNC password authentication only; Xvfb, twm, xterm, xcalc, x11vnc
  and websockify run;
* ssh: the banner is "SSH-2.0-OpenSSH..."; AUTH_USER logs in with AUTH_PASS (paramiko if it
  can be imported, else sshpass, else this part is skipped), a wrong password is refused;
  ``sshd -T`` says permitrootlogin no;
* all: ``stop`` (SIGTERM) ends the container in under STOP_LIMIT seconds.

Only the standard library is needed. Exit status: 0 if nothing failed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

IMAGES = ("http", "jupyter", "desktop", "ssh")
PREFIX = "rosetta-"
SIF_DIR = os.environ.get("ROSETTA_IMAGES_STATE", "/var/lib/rosetta-images") + "/sif"
STOP_LIMIT = 5.0  # seconds a container may take to end on SIGTERM
# the port each image is told to listen on: deliberately not its default
TEST_PORTS = {"http": 18080, "jupyter": 18888, "desktop": 18590, "ssh": 12222}
START_TIMEOUT = {"http": 20.0, "jupyter": 90.0, "desktop": 45.0, "ssh": 30.0}


class CheckError(Exception):
    """A check failed."""


# ---------------------------------------------------------------- HTTP and WebSocket clients


def http_request(
    host: str,
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_http(
    host: str, port: int, path: str, deadline: float, headers: dict[str, str] | None = None
) -> bytes:
    """GET until 200 (docker-proxy accepts before the server listens: retry empty replies too)."""
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body = http_request(host, port, path, headers=headers, timeout=5.0)
            if status == 200:
                return body
            last = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.3)
    raise CheckError(f"GET {path}: {last}")


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    """A minimal RFC 6455 client: text/binary frames, fragmentation, ping/pong, close."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        protocols: tuple[str, ...] = (),
        timeout: float = 15.0,
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            self._handshake(host, port, path, headers, protocols)
        except BaseException:
            self.sock.close()
            raise

    def _handshake(
        self, host: str, port: int, path: str, headers: dict[str, str] | None, protocols: tuple[str, ...]
    ) -> None:
        key = base64.b64encode(os.urandom(16))
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CheckError(f"websocket {path}: connection closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *fields = head.decode("latin-1").split("\r\n")
        if " 101 " not in status + " ":
            raise CheckError(f"websocket {path}: {status}")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID, usedforsecurity=False).digest()).decode()
        if hdrs.get("sec-websocket-accept") != accept:
            raise CheckError(f"websocket {path}: bad Sec-WebSocket-Accept")

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise CheckError("websocket closed by the server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, payload: bytes, opcode: int = 1) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def recv(self) -> tuple[int, bytes]:
        """The next whole message as (opcode, payload); answers pings, raises on close."""
        message, first_opcode = b"", 0
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if b1 & 0x80 else b""
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 8:
                raise CheckError(f"websocket closed by the server: {data[2:].decode(errors='replace')!r}")
            if opcode == 9:
                self.send(data, opcode=10)
                continue
            if opcode == 10:
                continue
            if opcode:
                first_opcode = opcode
            message += data
            if b0 & 0x80:
                return first_opcode, message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(struct.pack("!H", 1000), opcode=8)
        self.sock.close()


# ---------------------------------------------------------------- the checks


@dataclass
class Target:
    """Where a started image answers, and how to look inside it.

    ``headers`` are sent with every HTTP and WebSocket request of the checks (a proxy's cookie, for
    instance); ``at_root``: the web interface also answers at ``/`` (false through a proxy, where
    only ``base_url`` leads to it); ``signs_in``: the way to the interface adds the token itself
    (the platform's proxy signs the owner in), so a request without it is let in, not refused.
    """

    image: str
    host: str
    port: int
    token: str
    user: str
    base_url: str
    deadline: float
    exec_in: Callable[[list[str]], str] | None = None
    notes: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    at_root: bool = True
    signs_in: bool = False

    def paths(self, page: str) -> list[str]:
        """``page`` at ``/`` (when ``at_root``) and under ``base_url``."""
        return [*(["/" + page] if self.at_root else []), self.base_url + page]


def check_http(t: Target) -> None:
    for path in t.paths(""):
        body = wait_http(t.host, t.port, path, t.deadline, headers=t.headers)
        if b"rosetta-http OK" not in body:
            raise CheckError(f"GET {path}: no 'rosetta-http OK' in the page")
    t.notes.append(f"page OK at {' and '.join(t.paths(''))}")


def jupyter_message(session: str, code: str) -> tuple[str, bytes]:
    msg_id = uuid.uuid4().hex
    msg = {
        "header": {
            "msg_id": msg_id,
            "username": "smoke",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }
    return msg_id, json.dumps(msg).encode()


def check_jupyter(t: Target) -> None:
    base = t.base_url
    auth = {**t.headers, "Authorization": f"token {t.token}"}
    status_body = wait_http(t.host, t.port, base + "api/status", t.deadline, headers=auth)
    json.loads(status_body)
    code, _ = http_request(t.host, t.port, base + "api/status", headers=t.headers)
    if code != (200 if t.signs_in else 403):
        expected = "200 (signed in on the way)" if t.signs_in else "403"
        raise CheckError(f"GET api/status without the token: HTTP {code}, expected {expected}")
    code, body = http_request(
        t.host,
        t.port,
        base + "api/kernels",
        method="POST",
        headers={**auth, "Content-Type": "application/json"},
        body=json.dumps({"name": "python3"}).encode(),
    )
    if code != 201:
        raise CheckError(f"POST api/kernels: HTTP {code} {body[:200]!r}")
    kernel = json.loads(body)["id"]
    session = uuid.uuid4().hex
    output = ""
    try:
        ws = WebSocket(
            t.host, t.port, f"{base}api/kernels/{kernel}/channels?session_id={session}", headers=auth
        )
        try:
            msg_id, payload = jupyter_message(session, "print(6*7)")
            ws.send(payload)
            replied = False
            while not (replied and "42" in output):
                if time.monotonic() > t.deadline:
                    raise CheckError(f"no kernel answer in time (output so far {output!r})")
                opcode, data = ws.recv()
                if opcode != 1:
                    continue
                msg = json.loads(data)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
                if kind == "stream":
                    output += msg["content"].get("text", "")
                elif kind == "error":
                    raise CheckError(f"the kernel raised {msg['content'].get('ename')}")
                elif kind == "execute_reply":
                    if msg["content"].get("status") != "ok":
                        raise CheckError(f"execute_reply status {msg['content'].get('status')}")
                    replied = True
        finally:
            ws.close()
    finally:
        with contextlib.suppress(OSError, http.client.HTTPException):
            http_request(t.host, t.port, f"{base}api/kernels/{kernel}", method="DELETE", headers=auth)
    if output.strip() != "42":
        raise CheckError(f"print(6*7) printed {output!r}")
    t.notes.append(f"api/status 200 (403 without token); kernel printed {output.strip()} over the websocket")


def check_desktop(t: Target) -> None:
    for path in t.paths("vnc.html"):
        body = wait_http(t.host, t.port, path, t.deadline, headers=t.headers)
        if b"noVNC" not in body:
            raise CheckError(f"GET {path}: not the noVNC page")
    index = wait_http(t.host, t.port, t.base_url, t.deadline, headers=t.headers)
    if b"vnc.html" not in index:
        raise CheckError(f"GET {t.base_url}: no redirect to vnc.html")
    # the RFB handshake through websockify (retry: x11vnc may still be starting)
    banner, types = b"", b""
    last = ""
    while time.monotonic() < t.deadline:
        try:
            ws = WebSocket(
                t.host, t.port, t.base_url + "websockify", headers=t.headers, protocols=("binary",)
            )
            try:
                opcode, banner = ws.recv()
                if opcode != 2 or not banner.startswith(b"RFB 003."):
                    raise CheckError(f"first frame {opcode=} {banner[:20]!r}, expected binary 'RFB 003.'")
                ws.send(b"RFB 003.008\n", opcode=2)
                _, types = ws.recv()
            finally:
                ws.close()
            break
        except (OSError, CheckError) as exc:
            last = str(exc)
            if isinstance(exc, CheckError) and "first frame" in last:
                raise
            time.sleep(0.5)
    else:
        raise CheckError(f"websockify: {last}")
    offered = sorted(set(types[1 : 1 + types[0]])) if types else []
    if t.token and offered != [2]:
        raise CheckError(f"security types {offered}, expected [2] (VNC password) with AUTH_PASS set")
    t.notes.append(f"vnc.html 200, websocket banner {banner.strip().decode()}, security types {offered}")
    if t.exec_in:
        deadline = time.monotonic() + 15
        want = {"Xvfb", "twm", "xterm", "xcalc", "x11vnc", "websockify"}
        while True:
            running = set(t.exec_in(["sh", "-c", "cat /proc/[0-9]*/comm"]).split())
            if want <= running or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if not want <= running:
            raise CheckError(f"not running: {sorted(want - running)}")
        t.notes.append("running: " + " ".join(sorted(want)))


def ssh_login(t: Target, password: str) -> str | None:
    """Run `id -un` as t.user; the output, or None when the password is refused."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import paramiko  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        paramiko = None  # type: ignore[assignment,unused-ignore]
    if paramiko is not None:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                t.host,
                t.port,
                username=t.user,
                password=password,
                look_for_keys=False,
                allow_agent=False,
                timeout=15,
                auth_timeout=15,
            )
        except paramiko.AuthenticationException:
            return None
        try:
            _, out, _ = client.exec_command("id -un", timeout=15)
            return str(out.read().decode().strip())
        finally:
            client.close()
    if shutil.which("sshpass") and shutil.which("ssh"):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                ["sshpass", "-e", "ssh", "-p", str(t.port), "-o", "StrictHostKeyChecking=no",
                 "-o", f"UserKnownHostsFile={tmp}/kh", "-o", "PubkeyAuthentication=no",
                 "-o", "PreferredAuthentications=password", "-o", "ConnectTimeout=15",
                 f"{t.user}@{t.host}", "id -un"],
                env={**os.environ, "SSHPASS": password},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )  # fmt: skip
        if proc.returncode == 5:  # sshpass: invalid password
            return None
        if proc.returncode != 0:
            raise CheckError(f"ssh failed: {proc.stderr.strip()[-200:]}")
        return proc.stdout.strip()
    raise LookupError("neither paramiko nor sshpass is available")


def check_ssh(t: Target) -> None:
    banner = b""
    while time.monotonic() < t.deadline:
        try:
            with socket.create_connection((t.host, t.port), timeout=5) as sock:
                banner = sock.recv(256)
            if banner:
                break
        except OSError:
            pass
        time.sleep(0.3)
    if not banner.startswith(b"SSH-2.0-"):
        raise CheckError(f"banner {banner[:40]!r}, expected SSH-2.0-")
    first_line = banner.splitlines()[0].decode(errors="replace")
    t.notes.append(f"banner {first_line}")
    try:
        who = ssh_login(t, t.token)
    except LookupError as exc:
        t.notes.append(f"login NOT checked: {exc}")
        return
    if who != t.user:
        raise CheckError(f"password login as {t.user}: got {who!r}")
    if ssh_login(t, t.token + "-wrong") is not None:
        raise CheckError("a wrong password was accepted")
    t.notes.append(f"password login as {t.user} OK, wrong password refused")
    if t.exec_in:
        conf = t.exec_in(["/usr/sbin/sshd", "-T"])
        if "permitrootlogin no" not in conf or "passwordauthentication yes" not in conf:
            raise CheckError("sshd -T: expected permitrootlogin no, passwordauthentication yes")
        t.notes.append("sshd -T: permitrootlogin no")


CHECKS: dict[str, Callable[[Target], None]] = {
    "http": check_http,
    "jupyter": check_jupyter,
    "desktop": check_desktop,
    "ssh": check_ssh,
}


# ---------------------------------------------------------------- engines


def run(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(image: str, port: int, token: str, user: str, base_url: str) -> dict[str, str]:
    env = {"BASE_PORT": str(port), "AUTH_PASS": token}
    if image == "ssh":
        env["AUTH_USER"] = user
    if image in ("http", "jupyter", "desktop"):
        env["BASE_URL"] = base_url
    return env


class OciEngine:
    """podman or docker: run -d, find the published port, exec, stop (timed), rm."""

    def __init__(self, binary: str) -> None:
        self.name = binary
        self.binary = binary

    def available(self) -> str | None:
        if not shutil.which(self.binary):
            return f"{self.binary} is not installed"
        try:
            proc = run([self.binary, "info"], timeout=30)
        except subprocess.TimeoutExpired:
            return f"{self.binary} info timed out"
        if proc.returncode != 0:
            return f"{self.binary} info failed: {(proc.stderr.strip().splitlines() or [''])[-1][:120]}"
        return None

    def missing(self, image: str) -> str | None:
        ref = f"localhost/{PREFIX}{image}:latest"
        if run([self.binary, "image", "inspect", ref]).returncode != 0:
            return f"{ref} is not in {self.binary} (run images/build.sh)"
        return None

    @contextlib.contextmanager
    def start(self, image: str, token: str, user: str, base_url: str) -> Iterator[Target]:
        port = TEST_PORTS[image]
        name = f"rosetta-smoke-{image}-{os.getpid()}-{secrets.token_hex(3)}"
        argv = [self.binary, "run", "-d", "--pull=never", "--name", name, "--label", "rosetta.smoke=1"]
        argv += ["-p", f"127.0.0.1::{port}"]
        for key, value in env_for(image, port, token, user, base_url).items():
            argv += ["-e", f"{key}={value}"]
        argv.append(f"localhost/{PREFIX}{image}:latest")
        proc = run(argv, timeout=120)
        try:
            if proc.returncode != 0:
                raise CheckError(f"{self.binary} run failed: {proc.stderr.strip()[-300:]}")
            out = run([self.binary, "port", name, f"{port}/tcp"]).stdout.split()
            if not out:
                raise CheckError(f"{self.binary} port: nothing published for {port}/tcp")
            host, _, hport = out[0].rpartition(":")
            deadline = time.monotonic() + START_TIMEOUT[image]
            target = Target(
                image, host.strip("[]") or "127.0.0.1", int(hport), token, user, base_url, deadline
            )
            target.exec_in = lambda cmd: self.exec(name, cmd)
            try:
                yield target
            except Exception:
                logs = run([self.binary, "logs", "--tail", "15", name])
                target.notes.append(
                    "container log:\n    " + (logs.stdout + logs.stderr).strip().replace("\n", "\n    ")
                )
                raise
            began = time.monotonic()
            stop = run([self.binary, "stop", "-t", "10", name], timeout=60)
            took = time.monotonic() - began
            if stop.returncode != 0:
                raise CheckError(f"{self.binary} stop failed: {stop.stderr.strip()[-200:]}")
            state = run([self.binary, "inspect", "--format", "{{.State.ExitCode}}", name]).stdout.strip()
            if took > STOP_LIMIT:
                raise CheckError(f"stop took {took:.1f} s (exit code {state}): SIGTERM is not handled")
            target.notes.append(f"stopped by SIGTERM in {took:.1f} s (exit code {state})")
        finally:
            run([self.binary, "rm", "-f", "-v", name], timeout=60)

    def exec(self, name: str, cmd: list[str]) -> str:
        proc = run([self.binary, "exec", name, *cmd], timeout=30)
        if proc.returncode != 0:
            raise CheckError(f"exec {cmd}: {proc.stderr.strip()[-200:]}")
        return proc.stdout


class ApptainerEngine:
    """apptainer run of the SIF, as the singularity plugin runs it; stopped with SIGTERM."""

    name = "apptainer"
    # the entry point's useradd/chpasswd and sshd's privilege separation need root with
    # capabilities: user-namespace root (the catalogue's needs_root, which the plugin maps the same
    # way); the calling user must be in /etc/subuid and /etc/subgid
    NEEDS_ROOT = frozenset({"ssh"})

    def __init__(self) -> None:
        self.binary = shutil.which("apptainer") or shutil.which("singularity") or "apptainer"

    def available(self) -> str | None:
        if not shutil.which(self.binary):
            return "apptainer is not installed"
        return None

    def missing(self, image: str) -> str | None:
        sif = f"{SIF_DIR}/{PREFIX}{image}.sif"
        return None if os.path.exists(sif) else f"{sif} does not exist (run images/build.sh)"

    @contextlib.contextmanager
    def start(self, image: str, token: str, user: str, base_url: str) -> Iterator[Target]:
        port = free_port()
        argv = [self.binary, "run", "--containall", "--cleanenv", "--no-eval", "--writable-tmpfs"]
        if image in self.NEEDS_ROOT:
            argv.append("--fakeroot")
        for key, value in env_for(image, port, token, user, base_url).items():
            argv += ["--env", f"{key}={value}"]
        argv.append(f"{SIF_DIR}/{PREFIX}{image}.sif")
        with tempfile.TemporaryFile() as log:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT[image]
                target = Target(image, "127.0.0.1", port, token, user, base_url, deadline)
                try:
                    yield target
                except Exception:
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip().splitlines()[-15:]
                    target.notes.append("apptainer log:\n    " + "\n    ".join(tail))
                    raise
                began = time.monotonic()
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    code = child.wait(timeout=10)
                except subprocess.TimeoutExpired as exc:
                    raise CheckError("apptainer did not end within 10 s of SIGTERM") from exc
                took = time.monotonic() - began
                if took > STOP_LIMIT:
                    raise CheckError(f"SIGTERM took {took:.1f} s to end apptainer")
                target.notes.append(f"ended by SIGTERM in {took:.1f} s (exit code {code})")
            finally:
                if child.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("images", nargs="*", default=list(IMAGES), help=f"default: {' '.join(IMAGES)}")
    parser.add_argument("--engines", default="podman,docker,apptainer")
    args = parser.parse_args(argv)
    unknown = set(args.images) - set(IMAGES)
    if unknown:
        parser.error(f"unknown image(s): {' '.join(sorted(unknown))}")
    engines: list[Any] = []
    for name in args.engines.split(","):
        engines.append(ApptainerEngine() if name == "apptainer" else OciEngine(name))

    results: list[tuple[str, str, str, float, list[str]]] = []
    for engine in engines:
        why = engine.available()
        if why:
            print(f"SKIP {engine.name}: {why}", flush=True)
            results.append((engine.name, "*", "skip", 0.0, [why]))
            continue
        for image in args.images:
            why = engine.missing(image)
            if why:
                print(f"SKIP {engine.name}/{image}: {why}", flush=True)
                results.append((engine.name, image, "skip", 0.0, [why]))
                continue
            token = secrets.token_urlsafe(12)
            began = time.monotonic()
            notes: list[str] = []
            try:
                with engine.start(image, token, "smokeuser", f"/smoke/{image}/") as target:
                    notes = target.notes
                    CHECKS[image](target)
                verdict = "PASS"
            except (CheckError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
                notes.insert(0, f"{type(exc).__name__}: {exc}")
                verdict = "FAIL"
            took = time.monotonic() - began
            print(f"{verdict} {engine.name}/{image} ({took:.1f} s)", flush=True)
            for note in notes:
                print(f"    {note}", flush=True)
            results.append((engine.name, image, verdict, took, notes))
    failed = [r for r in results if r[2] == "FAIL"]
    passed = [r for r in results if r[2] == "PASS"]
    skipped = len(results) - len(passed) - len(failed)
    print(f"\nsmoke: {len(passed)} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
