"""The node side of the reverse tunnel as one agent extension: :func:`extension_source`.

The in-job agent runs with nothing installed on the node, so the modules it needs (``frames``,
``websocket``, ``mux``, ``agent_side``: standard library, Python 3.6 syntax) travel as source inside
one extension (see :mod:`rosetta_core.agent.extensions`). On the node the extension rebuilds them
as the modules ``rosetta_reverse.*`` (so their imports of each other work) and starts a
:class:`~rosetta_reverse.agent_side.Dialer` on a thread. Its config: ``url`` (what to dial),
``task`` and ``secret`` (what each connection is signed with).
"""

from __future__ import annotations

import functools
from pathlib import Path

SHIPPED = ("frames", "websocket", "mux", "agent_side")
"""The modules that go to the nodes, each after those it imports."""

_LOADER = """
import sys
import threading
import types


def _load():
    package = sys.modules.get("rosetta_reverse")
    if package is None or not hasattr(package, "agent_side"):
        package = types.ModuleType("rosetta_reverse")
        package.__path__ = []
        sys.modules["rosetta_reverse"] = package
        for short, source in _MODULES:
            module = types.ModuleType("rosetta_reverse." + short)
            sys.modules[module.__name__] = module
            exec(compile(source, "rosetta_reverse/" + short + ".py", "exec"), module.__dict__)
            setattr(package, short, module)
    return package.agent_side


class _Running:
    def __init__(self, dialer, thread):
        self.dialer = dialer
        self.thread = thread

    def stop(self):
        self.dialer.stop()
        self.thread.join(5)


def start(config, host, port, log):
    if port is None:
        raise ValueError("the task has no interface port to reach")
    agent_side = _load()
    task, secret = config["task"], config["secret"]
    dialer = agent_side.Dialer(
        config["url"], lambda: agent_side.sign(task, secret), host, port, log=log
    )
    thread = threading.Thread(target=dialer.run, name="rosetta-reverse", daemon=True)
    thread.start()
    log("tunnel to %s:%s through %s" % (host, port, config["url"]))
    return _Running(dialer, thread)
"""


@functools.cache
def extension_source() -> str:
    """The extension's source: the shipped modules, then the loader defining ``start``."""
    here = Path(__file__).parent
    modules = ",\n".join(
        f"    ({name!r}, {(here / f'{name}.py').read_text(encoding='utf-8')!r})" for name in SHIPPED
    )
    return (
        f"# the reverse tunnel's node side (rosetta_reverse.bundle)\n_MODULES = [\n{modules},\n]\n{_LOADER}"
    )
