from __future__ import annotations

import time

from rosetta_auth_local.clock import now, use_clock
from rosetta_core.kernel import Kernel


def test_wall_clock_unless_replaced(rosetta_kernel: Kernel) -> None:
    assert abs(now(rosetta_kernel) - time.time()) < 5
    use_clock(rosetta_kernel, lambda: 12.5)
    assert now(rosetta_kernel) == 12.5
    use_clock(rosetta_kernel, None)
    assert abs(now(rosetta_kernel) - time.time()) < 5
