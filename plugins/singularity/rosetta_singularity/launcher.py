"""The helper the Singularity engine runs on the computing resource as ``python3 -I -c <this file>``.

It is sent as one argv entry with every call, so nothing has to be installed on the resource but
Python 3.6 or newer and apptainer. It must therefore stay one self-contained file using only the
standard library and nothing newer than Python 3.6 (the tests check the grammar). Verbs:

``start DIR``
    Reads a JSON request on stdin, creates the task's scratch directory ``DIR`` and forks a
    detached supervisor (its own session and process group, stdio on ``DIR/log``) that runs
    apptainer, records its pid in ``DIR/pid`` (written before apptainer starts, atomically) and the
    exit code in ``DIR/exit``. When the task has an interface, the supervisor picks a free port,
    records it in ``DIR/port`` and passes it as ``BASE_PORT``; if apptainer exits soon with
    "address already in use" in its output, it picks another port and runs it again (a few times).
    Prints ``{"started": true}``, or ``{"started": false}`` when the task already runs.
``poll DIR``
    Prints one JSON observation: ``state`` (running, exited, failed or gone), ``exit_code``,
    ``port``, ``labels`` and ``detail``.
``stop DIR GRACE``
    SIGTERM to the supervisor's process group, SIGKILL after GRACE seconds, then removes ``DIR``.
``logs DIR TAIL``
    Writes the last TAIL lines of ``DIR/log`` to stdout (nothing when there is no log).
``list ROOT``
    Prints a JSON list of the scratch directories in ROOT whose names start with the prefix.

Every value (environment, labels, argv) travels in JSON or as whole argv entries; no shell is run.
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PREFIX = "rosetta-"
PID_WAIT = 10.0
"""Seconds ``start`` waits for the supervisor to record its pid."""
CLAIM_WAIT = 3.0
"""Seconds ``start`` waits for another start of the same task to record its pid."""
PORT_RETRIES = 5
"""How many times the supervisor picks another port after "address already in use"."""
RETRY_WINDOW = 30.0
"""Only an exit this soon after a start counts as a port collision."""
MARKER = "ROSETTA_SINGULARITY_DIR"
"""Set in apptainer's environment (not the container's: --cleanenv) so stop can tell it is ours."""
IN_USE = (b"address already in use", b"address in use", b"eaddrinuse")
LOG_TAIL_BYTES = 8 * 1024 * 1024


def fail(message: str, code: int = 1) -> None:
    sys.stderr.write(message + "\n")
    sys.exit(code)


def read_text(path: str) -> "str | None":
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").strip()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def read_int(path: str) -> "int | None":
    text = read_text(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def find_program(name: str) -> "str | None":
    if "/" in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    return shutil.which(name)


# ---------------------------------------------------------------- processes


def proc_stat(pid: int) -> "list[str] | None":
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def cmdline(pid: int) -> "list[bytes]":
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def is_supervisor(pid: int, directory: str) -> bool:
    """Whether PID is a live (not zombie) supervisor of DIR: its command line names DIR."""
    stat = proc_stat(pid)
    if stat is None:
        if os.path.isdir("/proc/self"):
            return False
        try:  # no /proc: trust the pid
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat[0] not in ("Z", "X") and os.fsencode(directory) in cmdline(pid)


def members(pgid: int) -> "list[int]":
    """The processes of group PGID that are not zombies (``[PGID]`` when it cannot be told)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    found = []
    for name in names:
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat is not None and len(stat) > 2 and stat[2] == str(pgid) and stat[0] not in ("Z", "X"):
                found.append(int(name))
    return found


def group_is_ours(pgid: int, directory: str) -> bool:
    """Whether group PGID still holds this task's supervisor or apptainer (marked in its env)."""
    marker = os.fsencode(MARKER + "=" + directory)
    for pid in members(pgid):
        if not os.path.isdir(f"/proc/{pid}"):
            return True  # no /proc to tell: trust the pid file
        if os.fsencode(directory) in cmdline(pid):
            return True
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    return True
        except OSError:
            pass
    return False


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


# ---------------------------------------------------------------- start


def resolve_image(images: "list[str]") -> str:
    """The first candidate that exists as a file; the last one is used as it is unless a path."""
    for candidate in images[:-1]:
        if os.path.exists(candidate):
            return candidate
    last = images[-1]
    if last.startswith("/") and not os.path.exists(last):
        fail(f"no such image file: {last}", 2)
    return last


def pick_port(root: str, directory: str) -> int:
    """A port free on this host and not recorded by any task of ROOT (this one included)."""
    lock = os.open(os.path.join(root, ".ports.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        taken = set()
        for name in os.listdir(root):
            port = read_int(os.path.join(root, name, "port"))
            if port is not None:
                taken.add(port)
        port = 0
        for _ in range(100):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("", 0))
                port = sock.getsockname()[1]
            finally:
                sock.close()
            if port not in taken:
                break
        write_atomic(os.path.join(directory, "port"), str(port).encode())
        return int(port)
    finally:
        os.close(lock)  # releases the lock


def address_in_use(log_path: str, offset: int) -> bool:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read(1024 * 1024).lower()
    except OSError:
        return False
    return any(marker in text for marker in IN_USE)


def supervise(request: "dict[str, object]", directory: str, image: str) -> int:
    """Run apptainer (again after a port collision) and return its exit code."""
    root = str(request["root"])
    argv = [str(a) for a in request["head"]] + [image] + [str(a) for a in request["tail"]]  # type: ignore[attr-defined]
    prefix = str(request["env_prefix"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))}
    env[MARKER] = directory
    for key, value in request["env"].items():  # type: ignore[attr-defined]
        env[prefix + key] = value
    log_path = os.path.join(directory, "log")
    attempt = 0
    terminated = []

    def on_term(_signum: int, _frame: object) -> None:
        # the whole group got it, apptainer too: wait for apptainer, then record its exit code
        terminated.append(True)

    signal.signal(signal.SIGTERM, on_term)  # a handler, unlike SIG_IGN, is not inherited by exec
    while True:
        if request["port"]:
            port = pick_port(root, directory)
            env[prefix + "BASE_PORT"] = str(port)
        with open(log_path, "ab") as log:
            offset = log.tell()
            began = time.monotonic()
            try:
                child = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
                )
            except OSError as exc:
                log.write(f"cannot run {argv[0]}: {exc}\n".encode())
                return 127 if exc.errno == errno.ENOENT else 126
            code = child.wait()
        if code < 0:
            code = 128 - code  # killed by a signal: the shell's convention
        soon = time.monotonic() - began < RETRY_WINDOW
        retry = request["port"] and code != 0 and soon and attempt < PORT_RETRIES and not terminated
        if retry and address_in_use(log_path, offset):
            attempt += 1
            with open(log_path, "ab") as log:
                log.write(b"rosetta-singularity: the port was in use; trying another one\n")
            continue
        return code


def daemon(request: "dict[str, object]", directory: str, image: str) -> None:
    """The supervisor: its own session, stdio on /dev/null, pid then exit code recorded."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    code = 1
    try:
        write_atomic(os.path.join(directory, "pid"), str(os.getpid()).encode())
        code = supervise(request, directory, image)
    except BaseException as exc:  # anything: record it rather than vanish silently
        try:
            with open(os.path.join(directory, "log"), "ab") as log:
                log.write(f"rosetta-singularity: supervisor failed: {exc!r}\n".encode())
        except OSError:
            pass
    finally:
        try:
            write_atomic(os.path.join(directory, "exit"), str(code).encode())
        finally:
            os._exit(0)


def start(directory: str) -> None:
    request = json.loads(sys.stdin.read())
    root = str(request["root"])
    program = str(request["head"][0])
    if find_program(program) is None:
        fail(f"program not found: {program}", 127)
    image = resolve_image([str(i) for i in request["images"]])
    os.makedirs(root, mode=0o700, exist_ok=True)
    pid_path = os.path.join(directory, "pid")
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        # an earlier start of this task: running (or finished), or cut short before its pid
        deadline = time.monotonic() + CLAIM_WAIT
        while time.monotonic() < deadline:
            if os.path.exists(pid_path) or os.path.exists(os.path.join(directory, "exit")):
                print(json.dumps({"started": False}))
                return
            time.sleep(0.05)
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
    os.makedirs(os.path.join(directory, "home"), mode=0o700, exist_ok=True)
    labels = json.dumps(request["labels"], sort_keys=True).encode()
    write_atomic(os.path.join(directory, "labels.json"), labels)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        daemon(request, directory, image)
    deadline = time.monotonic() + PID_WAIT
    while not os.path.exists(pid_path):
        if time.monotonic() > deadline:
            fail(f"the supervisor did not start within {PID_WAIT:g} s")
        time.sleep(0.01)
    print(json.dumps({"started": True}))


# ---------------------------------------------------------------- poll, stop, logs, list


def exit_reason(directory: str) -> str:
    """The last error line apptainer wrote (FATAL/ERROR/Error), else the last line of the log."""
    try:
        with open(os.path.join(directory, "log"), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - 16384))
            lines = [line.strip() for line in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if line.startswith(("FATAL", "ERROR", "Error")):
            return line[:500]
    return lines[-1][:500] if lines else ""


def poll(directory: str) -> None:
    answer: dict[str, object] = {
        "state": "gone",
        "exit_code": None,
        "port": None,
        "labels": {},
        "detail": "",
    }
    if not os.path.isdir(directory):
        answer["detail"] = "no such container"
        print(json.dumps(answer))
        return
    labels = read_text(os.path.join(directory, "labels.json"))
    try:
        answer["labels"] = json.loads(labels) if labels else {}
    except ValueError:
        answer["labels"] = {}
    exit_path = os.path.join(directory, "exit")
    pid = read_int(os.path.join(directory, "pid"))
    code = read_int(exit_path)
    if code is None and pid is not None and is_supervisor(pid, directory):
        answer["state"] = "running"
        answer["port"] = read_int(os.path.join(directory, "port"))
        answer["detail"] = "running"
    elif code is None:
        code = read_int(exit_path)  # it may have finished between the two looks
    if code is not None:
        answer["state"] = "exited"
        answer["exit_code"] = code
        detail = f"exited with code {code}"
        line = exit_reason(directory) if code != 0 else ""
        answer["detail"] = detail + (": " + line if line else "")
    elif answer["state"] != "running":
        if pid is None:
            answer["detail"] = "no container: its start did not finish"
        else:
            answer["state"] = "failed"
            answer["detail"] = "the container's supervisor vanished without an exit code"
    print(json.dumps(answer))


def stop(directory: str, grace: float) -> None:
    if not os.path.isdir(directory):
        return
    pid = read_int(os.path.join(directory, "pid"))
    if pid is not None and pid > 1 and group_is_ours(pid, directory):
        signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while members(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if members(pid):
            signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while members(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    shutil.rmtree(directory)


def logs(directory: str, tail: int) -> None:
    try:
        with open(os.path.join(directory, "log"), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            data = fh.read()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return
        raise
    lines = data.splitlines(True)
    out = getattr(sys.stdout, "buffer", None)
    chunk = b"".join(lines[-tail:]) if tail > 0 else b""
    if out is not None:
        out.write(chunk)
    else:  # pragma: no cover - a stdout without bytes
        sys.stdout.write(chunk.decode("utf-8", "replace"))


def list_handles(root: str) -> None:
    try:
        names = os.listdir(root)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            names = []
        else:
            raise
    found = [n for n in names if n.startswith(PREFIX) and os.path.isdir(os.path.join(root, n))]
    print(json.dumps(sorted(found)))


def main(args: "list[str]") -> None:
    if len(args) < 2:
        fail("usage: start|poll|stop|logs|list PATH [ARG]", 2)
    verb, path = args[0], args[1]
    if verb == "start":
        start(path)
    elif verb == "poll":
        poll(path)
    elif verb == "stop":
        stop(path, float(args[2]) if len(args) > 2 else 5.0)
    elif verb == "logs":
        logs(path, int(args[2]) if len(args) > 2 else 1000)
    elif verb == "list":
        list_handles(path)
    else:
        fail(f"unknown verb: {verb}", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
