# mypy: ignore-errors
# (untyped on purpose: it must run on Python 3.6, whose annotations cannot use the forms of 3.11)
#
# The in-job agent: runs one task's container inside a batch job and reports where it listens.
#
# Shipped inside the job script as the source of ``python3 -c`` (never fetched over the network),
# so it uses the standard library only and runs on Python 3.6 or newer. Its one argument is the
# request, a JSON object (see rosetta_core/agent/__init__.py, which builds it):
#
#   name        the container's name          engine   "podman", "docker", "singularity" or other
#   argv        the engine's foreground argv  port     the interface port in the container, or null
#   bind        the address to publish on     status   the status file to write (absolute path)
#   task        the task id                   callback {"url", "secret"} or null
#   port_env    the variable carrying the port to software that shares the host's network
#   extensions  [{"name", "source", "config"}]: plugins' code to run once the interface listens
#               (see rosetta_core/agent/extensions.py); each source defines start(config, host,
#               port, log) returning an object with stop()
#
# It writes the status file (JSON, replaced atomically) as the task goes: {"state": "starting"},
# then {"state": "running", "host", "port"} once the interface has a port on this node, then
# {"state": "exited", "exit_code", "reason"}; with a callback it also POSTs each report, signed
# with HMAC-SHA256. A TERM/INT/HUP (scancel, qdel, the end of the walltime) removes the container:
# `podman run` and `docker run` containers would otherwise outlive the job.
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from urllib.request import Request, urlopen

PUBLISHING = ("podman", "docker")
PORT_WAIT = 120.0
COLLISION_RETRIES = 3
COLLISION_WINDOW = 5.0


def log(message):
    sys.stderr.write(f"rosetta-agent: {message}\n")
    sys.stderr.flush()


class Agent:
    def __init__(self, request):
        self.request = request
        self.name = request["name"]
        self.engine = request.get("engine", "")
        self.child = None
        self.stopping = False
        self.running_extensions = []

    # ------------------------------------------------------------ reports

    def report(self, state, **fields):
        body = dict(fields, state=state, task=self.request["task"], node=socket.gethostname(), at=time.time())
        path = self.request["status"]
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(body, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
        self.post(body)

    def post(self, body):
        callback = self.request.get("callback")
        if not callback:
            return
        data = json.dumps(body, sort_keys=True).encode()
        stamp = str(int(time.time()))
        nonce = uuid.uuid4().hex
        message = b".".join([self.request["task"].encode(), stamp.encode(), nonce.encode(), data])
        signature = hmac.new(callback["secret"].encode(), message, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Rosetta-Task": self.request["task"],
            "X-Rosetta-Timestamp": stamp,
            "X-Rosetta-Nonce": nonce,
            "X-Rosetta-Signature": signature,
        }
        try:
            # the URL is the platform's own, from the request the platform wrote
            request = Request(callback["url"], data=data, headers=headers, method="POST")  # noqa: S310
            urlopen(request, timeout=10).read()  # noqa: S310
        except Exception as exc:  # the status file is the fallback: never fail the task for this
            log(f"cannot report to the platform ({exc}); the status file has it")

    # ------------------------------------------------------------ the container

    def argv_for(self, host_port):
        argv = list(self.request["argv"])
        port = self.request.get("port")
        if port is None:
            return argv
        if self.engine in PUBLISHING and len(argv) > 1 and argv[1] == "run":
            # the engine picks the host port atomically: read back once the container runs
            bind = self.request.get("bind", "127.0.0.1")
            return [*argv[:2], "-p", f"{bind}::{port}", *argv[2:]]
        variable = self.request.get("port_env")
        if host_port is not None and variable:
            prefix = variable + "="
            return [prefix + str(host_port) if a.startswith(prefix) else a for a in argv]
        return argv

    def published_port(self):
        """The host port podman/docker chose, or None while the container is not there yet."""
        port = self.request["port"]
        try:
            out = subprocess.check_output(
                [self.request["argv"][0], "port", self.name, f"{port}/tcp"], stderr=subprocess.DEVNULL
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        for line in out.decode(errors="replace").splitlines():
            number = line.strip().rpartition(":")[2]
            if number.isdigit():
                return int(number)
        return None

    def free_port(self):
        bind = self.request.get("bind", "127.0.0.1")
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.bind((bind, 0))
            return probe.getsockname()[1]
        finally:
            probe.close()

    def start(self, host_port):
        self.child = subprocess.Popen(self.argv_for(host_port), start_new_session=True)

    def run(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.on_signal)
        self.report("starting")
        port = self.request.get("port")
        shares_host = self.engine not in PUBLISHING and bool(self.request.get("port_env"))
        attempts = COLLISION_RETRIES if port is not None and shares_host else 1
        code = None
        for _ in range(attempts):
            host_port = self.free_port() if port is not None and shares_host else None
            began = time.time()
            self.start(host_port)
            code = self.watch_for_port(host_port)
            if code is None:
                code = self.child.wait()
            if self.stopping or code == 0 or time.time() - began > COLLISION_WINDOW:
                break
            # a quick failure on a picked port: another program may have taken it between pick
            # and bind; try another one
            log(f"the container ended at once (exit {code}); retrying on another port")
        self.cleanup()
        reason = "stopped" if self.stopping else ("finished" if code == 0 else "failed")
        self.report("exited", exit_code=code, reason=reason)
        return code if code is not None else 1

    def watch_for_port(self, host_port):
        """Report "running" with the interface's port; return the exit code if it ended first."""
        port = self.request.get("port")
        bind = self.request.get("bind", "127.0.0.1")
        host = socket.getfqdn() if bind in ("0.0.0.0", "::") else bind  # noqa: S104 - a comparison
        if port is None:
            self.report("running", host=host, port=None)
            self.start_extensions(host, None)
            return None
        deadline = time.time() + PORT_WAIT
        while time.time() < deadline:
            code = self.child.poll()
            if code is not None:
                return code
            found = self.published_port() if self.engine in PUBLISHING else (host_port or port)
            if found is not None:
                self.report("running", host=host, port=found)
                # the extensions reach the interface on this node: the loopback for a wildcard bind
                self.start_extensions(bind if host == bind else "127.0.0.1", found)
                return None
            time.sleep(0.5)
        log(f"no published port after {PORT_WAIT:g} s")
        return None

    # ------------------------------------------------------------ extensions

    def start_extensions(self, host, port):
        """Run each extension's start(); one that fails is logged and left out."""
        for extension in self.request.get("extensions") or ():
            name = str(extension.get("name", "?"))
            try:
                namespace = {"__name__": "rosetta_agent_extension_" + name.replace("-", "_")}
                exec(compile(extension["source"], f"<extension {name}>", "exec"), namespace)  # noqa: S102
                handle = namespace["start"](
                    extension.get("config") or {}, host, port, lambda m, n=name: log(f"{n}: {m}")
                )
            except Exception as exc:
                log(f"extension {name} did not start: {exc!r}")
                continue
            self.running_extensions.append((name, handle))

    def stop_extensions(self):
        running, self.running_extensions = self.running_extensions, []
        for name, handle in reversed(running):
            try:
                handle.stop()
            except Exception as exc:
                log(f"extension {name} did not stop cleanly: {exc!r}")

    # ------------------------------------------------------------ the end

    def on_signal(self, signum, frame):
        if self.stopping:
            return
        self.stopping = True
        log(f"signal {signum}: removing the container")
        self.cleanup()

    def cleanup(self):
        self.stop_extensions()
        if self.engine in PUBLISHING:
            with contextlib.suppress(OSError):
                subprocess.call(
                    [self.request["argv"][0], "rm", "-f", "-t", "5", self.name]
                    if self.engine == "podman"
                    else [self.request["argv"][0], "rm", "-f", self.name],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGTERM)
            deadline = time.time() + 10
            while child.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            if child.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(child.pid, signal.SIGKILL)


def main(argv):
    if len(argv) != 2:
        log("usage: agent REQUEST_JSON")
        return 2
    try:
        request = json.loads(argv[1])
    except ValueError as exc:
        log(f"the request is not JSON: {exc}")
        return 2
    return Agent(request).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
