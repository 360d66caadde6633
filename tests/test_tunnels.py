"""The direct tunnel passes the tunnel contract."""

from __future__ import annotations

import pytest

from rosetta_core.model import Computing, Task
from rosetta_core.testing.contracts import TunnelContract
from rosetta_core.tunnels import DirectTunnel, Tunnel


class TestDirectTunnel(TunnelContract):
    @pytest.fixture
    def tunnel(self) -> Tunnel:
        return DirectTunnel()


def test_direct_tunnel_needs_an_address() -> None:
    with pytest.raises(ValueError, match="no interface address"):
        DirectTunnel().open(
            Task(name="t", owner="u", software="s", computing="c"), Computing(name="c", engines=("podman",))
        )
