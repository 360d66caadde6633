"""The entry point module registers nothing yet."""

from __future__ import annotations

import rosetta_reverse.plugin as plugin


def test_plugin_registers_no_hooks_yet() -> None:
    assert not [name for name in vars(plugin) if name.startswith("rosetta_")]
    assert plugin.__doc__ and "reverse" in plugin.__doc__
