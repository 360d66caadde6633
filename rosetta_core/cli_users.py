"""``rosetta user ...`` and ``rosetta computing trust|keys``: users, their accounts, host keys."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rosetta_core.cli_common import Handler, emit, open_kernel, table
from rosetta_core.errors import ConfigError, PluginError
from rosetta_core.executors import HostKeyScanner
from rosetta_core.model import Computing, ComputingAccount, User
from rosetta_core.serde import structure, unstructure
from rosetta_core.users import create_user, key_pairs

AddCommand = Callable[[Any, str, Handler, str], argparse.ArgumentParser]


def cmd_user_add(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        user = create_user(kernel, args.name, email=args.email or "", is_admin=args.admin)
        keys = [k.public_key for k in key_pairs(kernel, user.name)]
    data = {**unstructure(user), "public_keys": keys}
    lines = [f"added user {user.name}" + (" (admin)" if user.is_admin else "")]
    if keys:
        lines.append("public key, for ~/.ssh/authorized_keys on the computing resources:")
        lines.extend(f"  {k}" for k in keys)
    emit(args, data, lambda: "\n".join(lines))
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        users = kernel.store.all(User)
    rows = [(u.name, u.email, "yes" if u.is_admin else "") for u in users]
    emit(args, [unstructure(u) for u in users], lambda: table(rows, ["NAME", "EMAIL", "ADMIN"]))
    return 0


def cmd_user_show(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        user = kernel.store.get(User, args.name)
        keys = key_pairs(kernel, user.name)
        accounts = kernel.store.accounts(user.name)
    data = {
        **unstructure(user),
        "public_keys": [k.public_key for k in keys],
        "accounts": {a.computing: a.account for a in accounts},
    }
    lines = [f"user {user.name}" + (" (admin)" if user.is_admin else "")]
    lines += [f"public key {k.name}: {k.public_key}" for k in keys] or ["no key pair"]
    lines += [f"account on {a.computing}: {a.account}" for a in accounts]
    emit(args, data, lambda: "\n".join(lines))
    return 0


def cmd_user_account(args: argparse.Namespace) -> int:
    fields = {"owner": args.name, "computing": args.computing, "account": args.account}
    account = structure(fields, ComputingAccount, what="account")
    with open_kernel(args) as kernel:
        kernel.store.get(User, account.owner)
        kernel.store.set_account(account)
    emit(args, unstructure(account), lambda: f"{account.owner} is {account.account} on {account.computing}")
    return 0


def cmd_computing_keys(args: argparse.Namespace) -> int:
    with open_kernel(args) as kernel:
        kernel.store.get(Computing, args.name)
        keys = kernel.store.host_keys(args.name)
    data = [{**unstructure(k), "fingerprint": k.fingerprint} for k in keys]
    rows = [(k.key_type, k.fingerprint) for k in keys]
    emit(args, data, lambda: table(rows, ["TYPE", "FINGERPRINT"]) if rows else "no trusted host key")
    return 0


def cmd_computing_trust(args: argparse.Namespace) -> int:
    """Show the host keys a resource presents; record them after confirmation (or ``--yes``)."""
    with open_kernel(args) as kernel:
        computing = kernel.store.get(Computing, args.name)
        scanner = kernel.executors.get(computing.executor)
        if not isinstance(scanner, HostKeyScanner):
            raise PluginError(f"the {computing.executor!r} executor of {computing.name!r} has no host keys")
        presented = scanner.scan_host_keys(computing)
        trusted = {(k.key_type, k.key) for k in kernel.store.host_keys(computing.name)}
        data = [
            {**unstructure(k), "fingerprint": k.fingerprint, "trusted": (k.key_type, k.key) in trusted}
            for k in presented
        ]
        if not args.json:
            print(f"{computing.name} presents:")
            for item in data:
                state = "already trusted" if item["trusted"] else "NEW"
                print(f"  {item['key_type']}  {item['fingerprint']}  ({state})")
        if not args.yes and not _confirm(f"trust these keys for {computing.name} (replacing any others)?"):
            raise ConfigError("nothing recorded: not confirmed (pass --yes to trust without asking)")
        kernel.store.trust_host_keys(computing.name, presented, replace=True)
        kernel.forget_executors(computing.name)
    emit(args, data, lambda: f"trusted {len(presented)} host key(s) for {computing.name}")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def add_commands(sub: Any, computing: Any, add: AddCommand) -> None:
    """Add ``user ...`` under ``sub`` and ``trust``/``keys`` under the ``computing`` group."""
    user = sub.add_parser("user", help="users, their key pairs and accounts").add_subparsers(
        dest="action", required=True
    )
    p = add(user, "add", cmd_user_add, "add a user (plugins make what it needs: an SSH key pair)")
    p.add_argument("name")
    p.add_argument("--email")
    p.add_argument("--admin", action="store_true")
    add(user, "list", cmd_user_list, "list users")
    p = add(user, "show", cmd_user_show, "show a user, its public keys and accounts")
    p.add_argument("name")
    p = add(user, "account", cmd_user_account, "set the account a user has on a computing resource")
    p.add_argument("name")
    p.add_argument("computing")
    p.add_argument("account")
    p = add(computing, "trust", cmd_computing_trust, "show a resource's host keys and trust them")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="trust without asking")
    p = add(computing, "keys", cmd_computing_keys, "list the host keys trusted for a resource")
    p.add_argument("name")
