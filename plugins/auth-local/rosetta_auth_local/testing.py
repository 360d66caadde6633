"""Helpers for tests of code that uses local accounts (this plugin's tests and the web front's).

- :data:`FAST_ARGON2`: the ``[plugin.auth-local]`` options of the cheapest argon2 parameters, so a
  hash costs microseconds. Never use them outside tests.
- :class:`FakeClock`: time that moves only when told; install it with
  :func:`rosetta_auth_local.clock.use_clock`.
"""

from __future__ import annotations

FAST_ARGON2: dict[str, int] = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}


class FakeClock:
    """Unix seconds that move only when :meth:`advance` is called."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        self.now += seconds
