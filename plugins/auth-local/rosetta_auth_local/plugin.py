"""The hook implementations: the entry point ``auth-local`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_auth_local.options.LocalAuthOptions` (the ``[plugin.auth-local]``
section), the migration set ``auth-local`` (credentials, sign-in failures, sessions, API tokens)
and the authenticator ``local`` (:class:`~rosetta_auth_local.authenticator.LocalAuthenticator`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlite_utils import Migrations

from rosetta_auth_local import tables
from rosetta_auth_local.authenticator import LocalAuthenticator
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_core import hookimpl
from rosetta_core.auth import Authenticator

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(LocalAuthOptions)


@hookimpl
def rosetta_register_migrations(register: Callable[[Migrations], None]) -> None:
    register(tables.migrations)


@hookimpl
def rosetta_register_authenticators(register: Callable[[str, Authenticator], None], kernel: Kernel) -> None:
    register(LocalAuthenticator.name, LocalAuthenticator(kernel))
