"""Users: creation calls rosetta_user_created; a failing hook undoes the creation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rosetta_core.errors import ConflictError, NotFoundError, ValidationError
from rosetta_core.hookspecs import hookimpl
from rosetta_core.kernel import Kernel
from rosetta_core.model import KeyPair, User
from rosetta_core.users import create_user, key_pairs


class KeyMaker:
    """A plugin that records a key pair for every new user, as the SSH plugin does."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[str] = []

    @hookimpl
    def rosetta_user_created(self, user: User, kernel: Kernel) -> None:
        self.seen.append(user.name)
        kernel.store.add(
            KeyPair(owner=user.name, name="default", public_key="ssh-ed25519 AAAA", private_key_path="/k/x")
        )
        if self.fail:
            raise RuntimeError("no entropy today")


def test_create_user_calls_the_hook(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    maker = KeyMaker()
    kernel = rosetta_kernel_factory([maker])
    user = create_user(kernel, "ada", email="ada@example.org", is_admin=True)
    assert kernel.store.get(User, "ada") == user and user.is_admin
    assert maker.seen == ["ada"]
    assert [k.name for k in key_pairs(kernel, "ada")] == ["default"]
    with pytest.raises(ConflictError):
        create_user(kernel, "ada")
    assert maker.seen == ["ada"]


def test_a_failing_hook_undoes_the_creation(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory([KeyMaker(fail=True)])
    with pytest.raises(RuntimeError, match="entropy"):
        create_user(kernel, "bob")
    with pytest.raises(NotFoundError):
        kernel.store.get(User, "bob")
    assert key_pairs(kernel, "bob") == []


@pytest.mark.parametrize("name", ["a;b", "../x", "", "x" * 64, "-rf"])
def test_bad_names_are_refused(rosetta_kernel: Kernel, name: Any) -> None:
    with pytest.raises(ValidationError):
        create_user(rosetta_kernel, name)
    assert rosetta_kernel.store.all(User) == []
