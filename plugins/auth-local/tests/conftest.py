"""Fixtures of the local accounts plugin's tests.

- ``make_kernel(**options)``: a started kernel with the plugin, cheap argon2 parameters and that
  ``[plugin.auth-local]``; every kernel made in one test shares its store.
- ``kernel``: ``make_kernel()``.
- ``fake_clock``: a :class:`~rosetta_auth_local.testing.FakeClock`; ``make_kernel`` makes its kernels read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rosetta_auth_local.plugin
from rosetta_auth_local.clock import use_clock
from rosetta_auth_local.testing import FAST_ARGON2, FakeClock
from rosetta_core.kernel import Kernel

KernelMaker = Callable[..., Kernel]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_kernel(rosetta_kernel_factory: KernelMaker, fake_clock: FakeClock) -> KernelMaker:
    def make(**options: Any) -> Kernel:
        kernel = rosetta_kernel_factory(
            {"auth-local": rosetta_auth_local.plugin},
            plugin_options={"auth-local": {**FAST_ARGON2, **options}},
        )
        use_clock(kernel, fake_clock)
        return kernel

    return make


@pytest.fixture
def kernel(make_kernel: KernelMaker) -> Kernel:
    return make_kernel()
