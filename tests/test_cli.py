"""The rosetta command line, run as a real process against an installed one-file engine plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import install_fake_distribution
from rosetta_core.cli import build_parser, main

TESTS = Path(__file__).resolve().parent
Rosetta = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def rosetta(tmp_path: Path) -> Rosetta:
    site = install_fake_distribution(tmp_path / "site", "rosetta-sleep", {"sleep": "sleep_engine"})
    config = tmp_path / "site.toml"
    config.write_text(
        f'[rosetta]\nstore = "rosetta.sqlite"\n[plugin.sleep]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(TESTS)]),
        "ROSETTA_CONFIG": str(config),
        "ROSETTA_HOME": str(tmp_path / "home"),
    }

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "rosetta_core.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    yield run
    # stop whatever a test left running
    run("task", "list", "--json")
    for task in json.loads(run("task", "list", "--json").stdout):
        run("task", "stop", task["id"], ok=False)


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_plugins_lists_what_each_registers(rosetta: Rosetta) -> None:
    plugins = {p["name"]: p for p in as_json(rosetta("plugins", "--json"))}
    assert plugins["sleep"]["registers"] == {"engines": ["sleep"], "options": ["SleepOptions"]}
    assert plugins["sleep"]["distribution"] == "rosetta-sleep"
    assert plugins["core"]["registers"]["executors"] == ["local"]
    text = rosetta("plugins").stdout
    assert "sleep" in text and "engines: sleep" in text


def test_disabling_a_plugin_removes_it(rosetta: Rosetta, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        config.read_text().replace("[plugin.sleep]", '[plugins]\ndisabled = ["sleep"]\n[plugin.sleep]')
    )
    plugins = {p["name"]: p for p in as_json(rosetta("plugins", "--json"))}
    assert plugins["sleep"]["enabled"] is False and plugins["sleep"]["registers"] == {}


def test_config_check(rosetta: Rosetta, tmp_path: Path) -> None:
    data = as_json(rosetta("config", "check", "--json"))
    assert "sleep" in data["engines"] and data["store"] == str(tmp_path / "rosetta.sqlite")
    bad = tmp_path / "bad.toml"
    bad.write_text("[plugin.sleep]\nstate_dir = 5\n")
    done = rosetta("config", "check", "--config", str(bad), ok=False)
    assert done.returncode == 2 and "$.plugin.sleep.state_dir" in done.stderr


def test_task_lifecycle_from_the_command_line(rosetta: Rosetta) -> None:
    rosetta("software", "add", "sleeper", "--image", "local/sleep", "--env", "GREETING=$(rm -rf /)")
    rosetta("computing", "add", "here", "--engine", "sleep")
    assert [s["name"] for s in as_json(rosetta("software", "list", "--json"))] == ["sleeper"]
    assert as_json(rosetta("computing", "list", "--json"))[0]["engines"] == ["sleep"]
    task = as_json(rosetta("task", "run", "sleeper", "--on", "here", "--name", "nap", "--json"))
    assert task["status"] == "running"
    listed = as_json(rosetta("task", "list", "--json"))
    assert [t["name"] for t in listed] == ["nap"] and "auth_token" not in listed[0]
    shown = as_json(rosetta("task", "show", "nap", "--json"))
    assert [e["to_status"] for e in shown["events"]] == ["created", "queued", "starting", "running"]
    assert "running" in rosetta("task", "show", task["id"][:8]).stdout
    rosetta("software", "add", "sshd", "--image", "local/sshd", "--needs-root")
    assert {s["name"]: s["needs_root"] for s in as_json(rosetta("software", "list", "--json"))} == {
        "sleeper": False,
        "sshd": True,
    }
    assert rosetta("task", "logs", "nap").returncode == 0
    assert as_json(rosetta("reconcile", "--json"))["checked"] == 1
    assert as_json(rosetta("task", "stop", "nap", "--json"))["status"] == "stopped"
    assert as_json(rosetta("task", "list", "--status", "running", "--json")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["software", "add", "a;b", "--image", "x"], "$.name"),
        (["software", "add", "a", "--image", "x", "--port", "-5"], "$.interface_port"),
        (["software", "add", "a", "--image", "x", "--env", "NOEQUALS"], "KEY=VALUE"),
        (["computing", "add", "c", "--engine", "nosuchengine"], "no engine named 'nosuchengine'"),
        (["computing", "add", "c", "--engine", "sleep", "--option", "bad key=1"], "$.options"),
        (["task", "run", "nothing", "--on", "here"], "no software named 'nothing'"),
        (["task", "show", "nothing"], "no task 'nothing'"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(rosetta: Rosetta, args: list[str], message: str) -> None:
    done = rosetta(*args, ok=False)
    assert done.returncode in (1, 2) and message in done.stderr, done.stderr
    assert as_json(rosetta("software", "list", "--json")) == []
    assert as_json(rosetta("computing", "list", "--json")) == []


def test_init_creates_local_with_engines_on_path(rosetta: Rosetta) -> None:
    data = as_json(rosetta("init", "--json"))
    # "sleep" is on PATH, so the sleep engine counts as found
    assert "sleep" in data["engines"] and data["created_local"] is True
    assert as_json(rosetta("init", "--json"))["created_local"] is False
    # the proxy is installed: tasks on this machine open in the browser through it
    local = next(c for c in as_json(rosetta("computing", "list", "--json")) if c["name"] == "local")
    assert local["options"] == {"tunnel": "proxy"}


def test_parser_offers_the_documented_commands() -> None:
    parser = build_parser()
    for args in (
        ["plugins"],
        ["config", "check"],
        ["software", "list"],
        ["computing", "list"],
        ["task", "list"],
        ["task", "logs", "x"],
        ["task", "stop", "x"],
        ["reconcile"],
        ["serve"],
    ):
        assert parser.parse_args(args).handler


def test_main_returns_an_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROSETTA_HOME", str(tmp_path))
    monkeypatch.delenv("ROSETTA_CONFIG", raising=False)
    assert main(["task", "show", "nothing"]) == 1
    assert "no task 'nothing'" in capsys.readouterr().err
    assert main(["config", "check", "--config", str(tmp_path / "missing.toml")]) == 2


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    from rosetta_core.model import Software
    from rosetta_core.store import Store

    store = Store(tmp_path / "home" / "rosetta.sqlite")
    store.migrate()
    for i in range(400):
        store.add(Software(name=f"sw{i}", image="some/image", description="x" * 200))
    store.close()
    env = {**os.environ, "ROSETTA_HOME": str(tmp_path / "home")}
    env.pop("ROSETTA_CONFIG", None)
    with subprocess.Popen(
        [sys.executable, "-m", "rosetta_core.cli", "software", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()  # like `| head`
        assert proc.wait(timeout=60) == 0
        assert "Traceback" not in proc.stderr.read().decode()


def test_options_before_the_command(rosetta: Rosetta, tmp_path: Path) -> None:
    config = str(tmp_path / "site.toml")
    assert as_json(rosetta("--json", "--config", config, "plugins"))
    assert as_json(rosetta("plugins", "--json", "--config", config))


@pytest.mark.parametrize("interval", ["-1", "0", "1e9"])
def test_serve_refuses_a_bad_interval(rosetta: Rosetta, interval: str) -> None:
    done = rosetta("serve", "--interval", interval, ok=False)
    assert done.returncode == 2 and "--interval" in done.stderr


def test_init_needs_the_local_executor(rosetta: Rosetta, tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(config.read_text() + '[plugins]\nenabled = ["sleep"]\n')
    done = rosetta("init", ok=False)
    assert done.returncode == 2 and "'local' executor" in done.stderr


def test_software_import_is_all_or_nothing(rosetta: Rosetta, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[[software]]\nname = "web"\nimage = "rosetta-http"\nregistry = "localhost"\ninterface_port = 8080\n'
        '[[software]]\nname = "lab"\nimage = "rosetta-jupyter"\nregistry = "localhost"\n'
        'interface_port = 8888\nauth = "password"\n'
    )
    assert as_json(rosetta("software", "import", str(good), "--json")) == {
        "added": ["web", "lab"],
        "kept": [],
    }
    assert as_json(rosetta("software", "import", str(good), "--json")) == {
        "added": [],
        "kept": ["lab", "web"],
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('[[software]]\nname = "ok2"\nimage = "x"\n[[software]]\nname = "no;pe"\nimage = "x"\n')
    done = rosetta("software", "import", str(bad), ok=False)
    assert done.returncode == 1 and "$.software[1].name" in done.stderr
    assert [s["name"] for s in as_json(rosetta("software", "list", "--json"))] == ["lab", "web"]


def test_task_connect_needs_an_interface(rosetta: Rosetta) -> None:
    rosetta("software", "add", "sleeper", "--image", "local/sleep")
    rosetta("computing", "add", "here", "--engine", "sleep")
    rosetta("task", "run", "sleeper", "--on", "here", "--name", "nap")
    done = rosetta("task", "connect", "nap", "--once", ok=False)
    assert done.returncode == 1 and "has no interface address" in done.stderr


def test_serve_listens_for_agent_reports_when_configured(tmp_path: Path) -> None:
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "site.toml"
    # no servers on fixed default ports that another test's serve could hold
    plugins = '[plugins]\ndisabled = ["proxy", "reverse", "web"]\n'
    config.write_text(f'[rosetta]\nstore = "rosetta.sqlite"\nagent_listen = "127.0.0.1:{port}"\n' + plugins)
    serve = subprocess.Popen(
        [sys.executable, "-m", "rosetta_core.cli", "serve", "--config", str(config), "--interval", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}"), timeout=2
                )
            except urllib.error.HTTPError as exc:
                exc.close()
                assert exc.code == 403  # unsigned: refused
                break
            except OSError:
                assert time.monotonic() < deadline and serve.poll() is None
                time.sleep(0.2)
    finally:
        serve.terminate()
        _, err = serve.communicate(timeout=30)
    assert f"agent reports on http://127.0.0.1:{port}/" in err


def test_serve_starts_the_plugins_servers_and_prints_their_lines(
    rosetta_kernel_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rosetta_core import cli, hookimpl

    class Front:
        @hookimpl
        def rosetta_serve(self) -> list[str]:
            return ["front on http://127.0.0.1:9/", "first sign-in: admin"]

    kernel = rosetta_kernel_factory({"front": Front()})

    def loop(stop: object, interval: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "open_kernel", lambda args: kernel)
    monkeypatch.setattr(kernel.orchestrator, "run_forever", loop)
    assert main(["serve"]) == 0
    err = capsys.readouterr().err
    assert "rosetta: front on http://127.0.0.1:9/\nrosetta: first sign-in: admin" in err
