"""The core plugin registers itself like any other plugin."""

from __future__ import annotations

from rosetta_core.executors import LocalExecutor
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing
from rosetta_core.tunnels import DirectTunnel


def test_core_registers_local_executor_and_direct_tunnel(rosetta_kernel: Kernel) -> None:
    assert isinstance(rosetta_kernel.executor_for(Computing(name="c", engines=("x",))), LocalExecutor)
    assert isinstance(rosetta_kernel.tunnels.get("direct"), DirectTunnel)
