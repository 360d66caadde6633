"""Extensions a plugin ships to the in-job agent: what is accepted, and how it travels."""

from __future__ import annotations

import json

import pytest

from rosetta_core.agent.extensions import MAX_SOURCE, AgentExtension
from rosetta_core.testing.contracts import HOSTILE
from rosetta_core.validators import FieldError

SOURCE = "def start(config, host, port, log):\n    return None\n"


def test_to_dict_is_what_the_agent_reads() -> None:
    extension = AgentExtension(name="reverse", source=SOURCE, config={"url": "ws://x", "n": 1})
    assert json.loads(json.dumps(extension.to_dict())) == {
        "name": "reverse",
        "source": SOURCE,
        "config": {"url": "ws://x", "n": 1},
    }


def test_the_repr_shows_neither_source_nor_config() -> None:
    shown = repr(AgentExtension(name="reverse", source=SOURCE, config={"secret": "s3cr3t"}))
    assert "s3cr3t" not in shown and "def start" not in shown


@pytest.mark.parametrize(
    "fields",
    [
        {"name": HOSTILE},
        {"name": "../x"},
        {"name": ""},
        {"source": "print('no start')"},
        {"source": 42},
        {"source": SOURCE + "#" * MAX_SOURCE},
        {"source": SOURCE + "\x00"},
        {"config": {"x": object()}},
        {"config": {"x": float("nan")}},
        {"config": ["not", "a", "mapping"]},
    ],
)
def test_bad_fields_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(FieldError):
        AgentExtension(**{"name": "ok", "source": SOURCE, **fields})  # type: ignore[arg-type]
