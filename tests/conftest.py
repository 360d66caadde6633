"""Shared fixtures of the kernel's own tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sleep_engine
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software


@pytest.fixture
def sleep_kernel(rosetta_kernel_factory: Callable[..., Kernel], tmp_path: Path) -> Kernel:
    """A started kernel with the one-file sleep engine, a ``sleeper`` software and a ``here`` computing."""
    kernel = rosetta_kernel_factory(
        {"sleep": sleep_engine}, plugin_options={"sleep": {"state_dir": str(tmp_path / "sleep-state")}}
    )
    kernel.store.add(Software(name="sleeper", image="local/sleep"))
    kernel.store.add(Computing(name="here", engines=("sleep",)))
    return kernel


def add_defaults(kernel: Kernel, **computing: Any) -> None:
    """Add a ``web`` software (port 8080) and a ``box`` computing using the fake engine."""
    kernel.store.add(Software(name="web", image="local/web", interface_port=8080))
    kernel.store.add(Computing(name="box", engines=("fake",), **computing))


def install_fake_distribution(site: Path, dist: str, entry_points: dict[str, str]) -> Path:
    """Write a minimal installed distribution (dist-info) declaring ``rosetta`` entry points."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[rosetta]\n{lines}")
    return site
