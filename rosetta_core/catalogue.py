"""Software catalogues: TOML files of ``[[software]]`` tables, such as the starter catalogue.

::

    [[software]]
    name = "jupyter"
    image = "rosetta-jupyter"
    registry = "localhost"
    interface_port = 8888
    auth = "password"
"""

from __future__ import annotations

import tomllib

from rosetta_core.errors import ConfigError, ValidationError
from rosetta_core.model import Software
from rosetta_core.serde import structure


def load_catalogue(path: str) -> list[Software]:
    """Read and validate a software catalogue (``[[software]]`` tables); all or nothing."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read catalogue {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"catalogue {path} is not valid TOML: {exc}") from None
    entries = data.get("software")
    if not isinstance(entries, list):
        raise ConfigError(f"catalogue {path} has no [[software]] entries")
    problems: list[str] = []
    software: list[Software] = []
    for index, entry in enumerate(entries):
        try:
            software.append(structure(entry, Software, what="software", path=f"$.software[{index}]"))
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(f"catalogue {path}", problems)
    return software
