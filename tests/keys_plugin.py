"""A one-file plugin for the user and host-key commands: fake key pairs, a scanning executor.

``rosetta_user_created`` records a made-up public key (no cryptography: the real SSH plugin does
that); the ``scanned`` executor factory presents host keys read from ``$KEYS_PLUGIN_HOST_KEYS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rosetta_core.executors import LocalExecutor
from rosetta_core.hookspecs import hookimpl
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, HostKey, KeyPair, User


class ScanningFactory:
    def __call__(self, computing: Computing, owner: str | None) -> LocalExecutor:
        return LocalExecutor()

    def scan_host_keys(self, computing: Computing) -> list[HostKey]:
        lines = os.environ.get("KEYS_PLUGIN_HOST_KEYS", "").split(";")
        return [
            HostKey(computing=computing.name, key_type=kind, key=key)
            for kind, _, key in (line.partition(" ") for line in lines if line)
        ]


@hookimpl
def rosetta_register_executors(register: Callable[[str, Any], None]) -> None:
    register("scanned", ScanningFactory())


@hookimpl
def rosetta_user_created(user: User, kernel: Kernel) -> None:
    kernel.store.add(
        KeyPair(
            owner=user.name,
            name="default",
            public_key=f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKE rosetta:{user.name}",
            private_key_path=f"/keys/{user.name}",
        )
    )
