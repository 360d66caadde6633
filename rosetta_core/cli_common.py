"""What every ``rosetta`` command shares: opening the kernel, printing text or JSON, KEY=VALUE pairs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from rosetta_core.errors import ConfigError
from rosetta_core.kernel import Kernel, create_kernel

Handler = Callable[[argparse.Namespace], int]


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        out = text()
        if out:
            print(out)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def open_kernel(args: argparse.Namespace, *, start: bool = True) -> Kernel:
    kernel = create_kernel(args.config)
    if start:
        kernel.start(reconcile=False)
    return kernel


def pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"{what} must look like KEY=VALUE, got {item!r}")
        result[key] = value
    return result


def option_value(text: str) -> str | int | float | bool:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
