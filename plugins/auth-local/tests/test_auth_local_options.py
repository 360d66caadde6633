from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2.profiles import RFC_9106_LOW_MEMORY

import rosetta_auth_local.plugin
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_core.errors import ConfigError
from rosetta_core.kernel import Kernel


def test_defaults_are_the_library_recommended_argon2_parameters() -> None:
    options = LocalAuthOptions()
    assert options.argon2_time_cost == RFC_9106_LOW_MEMORY.time_cost
    assert options.argon2_memory_cost == RFC_9106_LOW_MEMORY.memory_cost
    assert options.argon2_parallelism == RFC_9106_LOW_MEMORY.parallelism
    assert (options.account_failures, options.client_failures, options.failure_window) == (5, 20, 900.0)
    assert options.open_sign_up and options.invitation_file == ""


def test_section_is_read(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(account_failures=3, session_idle=120)
    options = kernel.options(LocalAuthOptions)
    assert options.account_failures == 3
    assert options.session_idle == 120


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"account_failures": 0}, "account_failures"),
        ({"account_failures": True}, "account_failures"),
        ({"failure_window": "900"}, "failure_window"),
        ({"failure_window": float("nan")}, "failure_window"),
        ({"argon2_memory_cost": 8, "argon2_parallelism": 2}, "argon2_memory_cost"),
        ({"invitation_file": "relative/code"}, "invitation_file"),
        ({"open_sign_up": "yes"}, "open_sign_up"),
        ({"passwords": "plain"}, "passwords"),
    ],
)
def test_bad_sections_are_refused_naming_the_field(
    rosetta_kernel_factory: Callable[..., Kernel], options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError, match=rf"\$\.plugin\.auth-local\.{field}"):
        rosetta_kernel_factory(
            {"auth-local": rosetta_auth_local.plugin}, plugin_options={"auth-local": options}
        )


def test_invitation_path_expands_home() -> None:
    assert not LocalAuthOptions().invitation_path
    assert LocalAuthOptions(invitation_file="~/code").invitation_path.endswith("/code")
