"""The helpers every command shares: KEY=VALUE pairs, option values, tables."""

from __future__ import annotations

import pytest

from rosetta_core.cli_common import option_value, pairs, table
from rosetta_core.errors import ConfigError


def test_pairs_keep_everything_after_the_first_equals() -> None:
    assert pairs(["A=1", "B=x=y", "C="], "--env") == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(ConfigError, match="--env must look like KEY=VALUE"):
        pairs(["NOEQUALS"], "--env")


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("22", 22), ("1.5", 1.5)])
def test_option_values_are_typed(text: str, value: object) -> None:
    assert option_value(text) == value and type(option_value(text)) is type(value)


def test_table_aligns_columns() -> None:
    assert table([("a", None), ("long", 3)], ["X", "Y"]).splitlines() == ["X     Y", "a", "long  3"]
