"""Hostile values in every user-controlled field never reach the remote shell unquoted.

For arbitrary text in each field a user controls (image, tag, env keys and values, storage paths,
account names, task names), either the model refuses it before any command exists, or the argv
the engines build, sent through the SSH executor's command line, is split by the remote shell back
into exactly that argv: no element is ever interpreted.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rosetta_core.errors import BackendError, ValidationError
from rosetta_core.model import Computing, ComputingAccount, Software, Storage, Task
from rosetta_core.specs import build_spec
from rosetta_core.testing.contracts import ARGUMENT_TEXT, HOSTILE
from rosetta_podman.engine import PodmanEngine, PodmanOptions
from rosetta_singularity.engine import SingularityEngine
from rosetta_ssh.command import remote_command

# mostly hostile: shell metacharacters, quotes, newlines, option-looking text, traversal
NASTY = st.sampled_from(
    [HOSTILE, "-rf", "--privileged", "a b", "a\nb", "../../etc", "$USER", "`id`", "x;y", "'", '"', "=", ""]
)
TEXT = st.one_of(NASTY, ARGUMENT_TEXT, st.builds(lambda a, b: a + b, NASTY, ARGUMENT_TEXT))


def valid_or(default: Any, make: Callable[[], Any]) -> Any:
    """``make()``, or ``default`` when the model refuses the value (nothing is built from it)."""
    try:
        return make()
    except (ValueError, TypeError, ValidationError):
        return default


@settings(max_examples=300, deadline=None)
@given(
    image=TEXT,
    tag=TEXT,
    env_key=TEXT,
    env_value=TEXT,
    base_path=TEXT,
    bind_path=TEXT,
    account=TEXT,
    task_name=TEXT,
)
def test_every_argv_element_reaches_the_remote_program_unchanged(
    image: str,
    tag: str,
    env_key: str,
    env_value: str,
    base_path: str,
    bind_path: str,
    account: str,
    task_name: str,
) -> None:
    software = valid_or(
        Software(name="s", image="app", interface_port=8080, env={"K": env_value}),
        lambda: Software(name="s", image=image, tag=tag, interface_port=8080, env={env_key: env_value}),
    )
    storage = valid_or(None, lambda: Storage(name="d", base_path=base_path, bind_path=bind_path))
    login = valid_or(None, lambda: ComputingAccount(owner="ada", computing="c", account=account))
    task = valid_or(
        Task(name="t", owner="ada", software="s", computing="c"),
        lambda: Task(name=task_name, owner="ada", software="s", computing="c"),
    )
    computing = Computing(name="c", engines=("podman", "singularity"))
    try:
        spec = build_spec(
            task, software, computing, [storage] if storage else [], "inst", login.account if login else None
        )
    except ValidationError:
        return  # an expanded storage path that is not clean: refused before any command
    for build in (
        PodmanEngine(PodmanOptions()).build_command,
        PodmanEngine(PodmanOptions()).start_command,
        SingularityEngine().build_command,
    ):
        try:
            argv = build(spec)
        except BackendError:
            continue  # a value the engine cannot express: refused before any command
        assert all(isinstance(a, str) for a in argv)
        sent = remote_command(argv, {"BASE_PORT": "8080"})
        assert shlex.split(sent) == ["exec", "env", "--", "BASE_PORT=8080", *argv]
