"""The ``rosetta`` command line, for admins and scripts.

Every command takes ``--config PATH`` (default ``$ROSETTA_CONFIG`` or the embedded default) and
``--json`` for machine-readable output. Exit status: 0 ok, 1 a refused or failed operation,
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shutil
import sqlite3
import sys
import threading
from collections.abc import Sequence
from typing import Any

from rosetta_core import cli_users
from rosetta_core.agent.receiver import ReportServer
from rosetta_core.catalogue import load_catalogue
from rosetta_core.cli_common import Handler, emit, open_kernel, option_value, pairs, table
from rosetta_core.config import check_interval
from rosetta_core.errors import ConfigError, PluginError, RosettaError
from rosetta_core.model import Computing, Software, Task, TaskStatus
from rosetta_core.serde import structure, unstructure

# ---------------------------------------------------------------- plugins, config


def cmd_plugins(args: argparse.Namespace) -> int:
    with open_kernel(args, start=False) as kernel:
        data: list[dict[str, Any]] = [
            {
                "name": info.name,
                "enabled": info.enabled,
                "module": info.module,
                "distribution": info.distribution,
                "version": info.version,
                "registers": kernel.plugin_registrations(info.name) if info.enabled else {},
            }
            for info in kernel.plugins
        ]

    def text() -> str:
        rows = [
            (
                d["name"],
                "enabled" if d["enabled"] else "disabled",
                d["version"] or "",
                "; ".join(f"{k}: {', '.join(v)}" for k, v in d["registers"].items()),
            )
            for d in data
        ]
        return table(rows, ["PLUGIN", "STATE", "VERSION", "REGISTERS"])

    emit(args, data, text)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    with open_kernel(args, start=False) as kernel:
        data = {
            "source": str(kernel.config.source) if kernel.config.source else None,
            "store": str(kernel.config.store_path),
            "plugins": [i.name for i in kernel.plugins if i.enabled],
            "engines": kernel.engines.names(),
            "workload_managers": kernel.workload_managers.names(),
            "executors": kernel.executors.names(),
        }
    emit(args, data, lambda: "configuration ok\n" + "\n".join(f"  {k}: {v}" for k, v in data.items()))
    return 0


# ---------------------------------------------------------------- software, computing


def cmd_software_add(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"name": args.name, "image": args.image, "env": pairs(args.env, "--env")}
    for key in ("registry", "tag", "digest", "protocol", "auth", "arch", "description"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    if args.port is not None:
        fields["interface_port"] = args.port
    if args.needs_root:
        fields["needs_root"] = True
    if args.keeps_prefix:
        fields["keeps_prefix"] = True
    software = structure(fields, Software, what="software")
    with open_kernel(args) as kernel:
        kernel.store.add(software)
    emit(args, unstructure(software), lambda: f"added software {software.name} ({software.image_ref})")
    return 0


def cmd_software_import(args: argparse.Namespace) -> int:
    """Add every ``[[software]]`` entry of a TOML catalogue; entries already present are kept."""
    entries = load_catalogue(args.file)
    with open_kernel(args) as kernel:
        existing = {s.name for s in kernel.store.all(Software)}
        added = [s for s in entries if s.name not in existing]
        for software in added:
            kernel.store.add(software)
    data = {"added": [s.name for s in added], "kept": sorted({s.name for s in entries} & existing)}
    emit(args, data, lambda: f"added {len(added)} software, kept {len(data['kept'])} already present")
    return 0


def cmd_software_list(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        items = kernel.store.all(Software)
    rows = [(s.name, s.image_ref, s.interface_port, s.protocol.value, s.auth.value) for s in items]
    emit(
        args,
        [unstructure(s) for s in items],
        lambda: table(rows, ["NAME", "IMAGE", "PORT", "PROTOCOL", "AUTH"]),
    )
    return 0


def cmd_computing_add(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {
        "name": args.name,
        "engines": tuple(args.engine),
        "options": {k: option_value(v) for k, v in pairs(args.option, "--option").items()},
    }
    for key in ("kind", "executor", "workload_manager", "description"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    computing = structure(fields, Computing, what="computing resource")
    with open_kernel(args) as kernel:
        for engine in computing.engines:
            kernel.engines.get(engine)
        kernel.executors.get(computing.executor)
        if computing.workload_manager != "none":
            kernel.workload_managers.get(computing.workload_manager)
        kernel.store.add(computing)
    emit(args, unstructure(computing), lambda: f"added computing resource {computing.name}")
    return 0


def cmd_computing_list(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        items = kernel.store.all(Computing)
    rows = [(c.name, c.kind.value, c.executor, ",".join(c.engines), c.workload_manager) for c in items]
    emit(
        args,
        [unstructure(c) for c in items],
        lambda: table(rows, ["NAME", "KIND", "EXECUTOR", "ENGINES", "WORKLOAD MANAGER"]),
    )
    return 0


# ---------------------------------------------------------------- tasks


def _public(task: Task) -> dict[str, Any]:
    """A task as listings show it: without its secret token (``task show`` has it)."""
    data: dict[str, Any] = unstructure(task)
    data.pop("auth_token", None)
    return data


def _task_row(t: Task) -> tuple[Any, ...]:
    where = f"{t.interface_host}:{t.interface_port}" if t.interface_port else ""
    return (t.id[:12], t.name, t.owner, t.software, t.computing, t.status.value, where)


_TASK_HEADERS = ["ID", "NAME", "OWNER", "SOFTWARE", "COMPUTING", "STATUS", "INTERFACE"]


def cmd_task_run(args: argparse.Namespace) -> int:
    options = {
        key: value
        for key, value in (
            ("engine", args.engine),
            ("cpus", args.cpus),
            ("memory_mb", args.memory),
            ("partition", args.partition),
            ("walltime_minutes", args.walltime),
            ("gpus", args.gpus),
        )
        if value is not None
    }
    with open_kernel(args) as kernel:
        task = kernel.orchestrator.run_task(
            owner=args.owner, software=args.software, computing=args.on, name=args.name, options=options
        )
    emit(
        args,
        _public(task),
        lambda: table([_task_row(task)], _TASK_HEADERS) + (f"\nerror: {task.error}" if task.error else ""),
    )
    return 1 if task.status is TaskStatus.FAILED else 0


def cmd_task_list(args: argparse.Namespace) -> int:
    statuses = [TaskStatus(s) for s in args.status] if args.status else None
    with open_kernel(args) as kernel:
        tasks = kernel.store.list_tasks(owner=args.owner, statuses=statuses, limit=args.limit)
    emit(args, [_public(t) for t in tasks], lambda: table([_task_row(t) for t in tasks], _TASK_HEADERS))
    return 0


def cmd_task_show(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        task = kernel.store.find_task(args.task)
        events = kernel.store.task_events(task.id)
    data = {**unstructure(task), "events": [unstructure(e) for e in events]}

    def text() -> str:
        lines = [f"{k}: {v}" for k, v in unstructure(task).items() if k != "options"]
        lines.append(
            "options: " + json.dumps({k: v for k, v in unstructure(task.options).items() if v is not None})
        )
        lines.append("events:")
        lines.extend(
            f"  {e.seq:>3} {e.at.isoformat(timespec='seconds')} {e.from_status or '-'} -> {e.to_status}"
            f"  {e.detail}"
            for e in events
        )
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def cmd_task_logs(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        task = kernel.store.find_task(args.task)
        text = kernel.orchestrator.logs(task.id, tail=args.tail)
    emit(args, {"task": task.id, "logs": text}, lambda: text.rstrip("\n"))
    return 0


def cmd_task_stop(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        task = kernel.orchestrator.stop_task(kernel.store.find_task(args.task).id)

    def text() -> str:
        if task.status.is_terminal:
            return f"task {task.id[:12]} is {task.status.value}"
        return (
            f"task {task.id[:12]}: stop requested; its submission is still under way, "
            "a later reconcile pass ends it"
        )

    emit(args, _public(task), text)
    return 0


# ---------------------------------------------------------------- running


def cmd_reconcile(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        report = kernel.orchestrator.reconcile()
    data = {
        "checked": report.checked,
        "changed": report.changed,
        "unknown": report.unknown,
        "orphans_stopped": report.orphans_stopped,
        "errors": report.errors,
    }
    emit(args, data, lambda: ", ".join(f"{k}: {v}" for k, v in data.items()))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create the embedded default: a ``local`` computing resource with the engines found on PATH
    (reached through the proxy when it is installed)."""
    with open_kernel(args) as kernel:
        if "local" not in kernel.executors:
            raise ConfigError("no 'local' executor is registered: enable the 'core' plugin")
        names = {c.name for c in kernel.store.all(Computing)}
        found = [e for e in kernel.engines.names() if shutil.which(e)]
        created = False
        if "local" not in names and found:
            # with the proxy installed, tasks open in the browser through it
            options = {"tunnel": "proxy"} if "proxy" in kernel.tunnels else {}
            kernel.store.add(
                Computing(name="local", engines=tuple(found), description="this machine", options=options)
            )
            created = True
    data = {"store": str(kernel.config.store_path), "engines": found, "created_local": created}
    message = (
        f"store {data['store']}; local computing resource "
        + (
            "created"
            if created
            else "already present"
            if "local" in names
            else "not created: no engine found"
        )
        + (f" with engines {', '.join(found)}" if created else "")
    )
    emit(args, data, lambda: message)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the orchestrator loop in the foreground until interrupted."""
    stop = threading.Event()
    if args.interval is not None:
        try:
            check_interval("--interval", args.interval)
        except ValueError as exc:
            raise ConfigError(f"--interval {exc}") from None
    with open_kernel(args) as kernel:
        interval = args.interval if args.interval is not None else kernel.config.rosetta.reconcile_interval
        print(
            f"rosetta: store {kernel.config.store_path}, reconciling every {interval:g} s (Ctrl-C stops)",
            file=sys.stderr,
        )
        for name, url in kernel.connections.serve().items():
            print(f"rosetta: the {name} tunnel serves at {url}", file=sys.stderr)
        for lines in kernel.pm.hook.rosetta_serve(kernel=kernel):
            for line in lines or ():
                print(f"rosetta: {line}", file=sys.stderr)
        listen = kernel.config.rosetta.agent_listen_address
        receiver = None
        if listen is not None:
            receiver = ReportServer(kernel, *listen).start()
            print(f"rosetta: agent reports on http://{listen[0]}:{listen[1]}/", file=sys.stderr)
        try:
            kernel.orchestrator.run_forever(stop, interval)
        except KeyboardInterrupt:
            stop.set()
        finally:
            if receiver is not None:
                receiver.close()
    return 0


def cmd_task_connect(args: argparse.Namespace) -> int:
    """Open the task's tunnel, print where to connect, and hold it open until interrupted."""
    with open_kernel(args) as kernel:
        endpoint = kernel.connections.connect(args.task)
        data: dict[str, object] = {"host": endpoint.host, "port": endpoint.port, "url": endpoint.url}
        lines = [f"connect to {endpoint.url or f'{endpoint.host}:{endpoint.port}'} (Ctrl-C closes)"]
        # a tunnel that authenticates users (the proxy) mints the owner's single-use link
        task = kernel.store.find_task(args.task)
        open_link = getattr(
            kernel.connections.tunnel_for(kernel.store.get(Computing, task.computing)), "open_link", None
        )
        if callable(open_link):
            data["link"] = link = str(open_link(task))
            lines.append(f"{task.owner}'s single-use sign-in link (a secret, for them only): {link}")
        emit(args, data, lambda: "\n".join(lines))
        sys.stdout.flush()
        if not args.once:
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    # --config and --json work before or after the command; SUPPRESS keeps a subcommand's copy
    # from overwriting a value given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="site configuration file (default: $ROSETTA_CONFIG)"
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    parser = argparse.ArgumentParser(
        prog="rosetta", description="Run software containers as tasks on computing resources."
    )
    parser.add_argument("--config", help="site configuration file (default: $ROSETTA_CONFIG)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(parent: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        p.set_defaults(handler=handler)
        return p

    add(sub, "plugins", cmd_plugins, "list installed plugins and what each registers")
    config = sub.add_parser("config", help="site configuration").add_subparsers(dest="action", required=True)
    add(config, "check", cmd_config_check, "load the configuration and every plugin, report problems")
    add(sub, "init", cmd_init, "create the store and a 'local' computing resource")
    add(sub, "reconcile", cmd_reconcile, "run one reconcile pass")
    serve = add(sub, "serve", cmd_serve, "run the orchestrator loop in the foreground")
    serve.add_argument("--interval", type=float, help="seconds between reconcile passes")

    software = sub.add_parser("software", help="software catalogue").add_subparsers(
        dest="action", required=True
    )
    p = add(software, "add", cmd_software_add, "add a software (a container image and its interface)")
    p.add_argument("name")
    p.add_argument("--image", required=True, help="repository, e.g. jupyter/base-notebook")
    p.add_argument("--registry")
    p.add_argument("--tag")
    p.add_argument("--digest")
    p.add_argument("--port", type=int, help="the port the interface listens on inside the container")
    p.add_argument("--protocol", choices=["http", "https", "tcp"])
    p.add_argument("--auth", choices=["none", "password", "user_password"])
    p.add_argument("--env", action="append", metavar="KEY=VALUE")
    p.add_argument("--arch")
    p.add_argument(
        "--needs-root",
        action="store_true",
        help="the image's entrypoint must start as root (Apptainer then uses --fakeroot)",
    )
    p.add_argument(
        "--keeps-prefix",
        action="store_true",
        help="the web interface serves under BASE_URL (/t/<task id>/) itself",
    )
    p.add_argument("--description")
    add(software, "list", cmd_software_list, "list software")
    p = add(
        software, "import", cmd_software_import, "add the software of a TOML catalogue ([[software]] entries)"
    )
    p.add_argument("file")

    computing = sub.add_parser("computing", help="computing resources").add_subparsers(
        dest="action", required=True
    )
    p = add(computing, "add", cmd_computing_add, "add a computing resource")
    p.add_argument("name")
    p.add_argument(
        "--engine", action="append", required=True, help="container engine (repeat; first is default)"
    )
    p.add_argument("--kind", choices=["local", "ssh", "cluster"])
    p.add_argument("--executor")
    p.add_argument("--workload-manager")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--description")
    add(computing, "list", cmd_computing_list, "list computing resources")
    cli_users.add_commands(sub, computing, add)

    task = sub.add_parser("task", help="tasks").add_subparsers(dest="action", required=True)
    p = add(task, "run", cmd_task_run, "create and start a task")
    p.add_argument("software")
    p.add_argument("--on", required=True, metavar="COMPUTING")
    p.add_argument("--name")
    p.add_argument("--owner", default=_current_user())
    p.add_argument("--engine")
    p.add_argument("--cpus", type=int)
    p.add_argument("--memory", type=int, metavar="MB")
    p.add_argument("--partition")
    p.add_argument("--walltime", type=int, metavar="MINUTES")
    p.add_argument("--gpus", type=int)
    p = add(task, "list", cmd_task_list, "list tasks, newest first")
    p.add_argument("--owner")
    p.add_argument("--status", action="append", choices=[s.value for s in TaskStatus])
    p.add_argument("--limit", type=int)
    for name, handler, text in (
        ("show", cmd_task_show, "show a task and its events"),
        ("logs", cmd_task_logs, "print a task's output"),
        ("stop", cmd_task_stop, "stop a task"),
        ("connect", cmd_task_connect, "open a task's tunnel and keep it open until Ctrl-C"),
    ):
        p = add(task, name, handler, text)
        p.add_argument("task", help="task id, id prefix or name")
        if name == "logs":
            p.add_argument("--tail", type=int, default=1000)
        if name == "connect":
            p.add_argument("--once", action="store_true", help="print the address and exit at once")
    return parser


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (ConfigError, PluginError) as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    except RosettaError as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"rosetta: error: the store cannot be used: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`rosetta task list | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
