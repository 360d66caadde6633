"""Software catalogues: validated all or nothing, every problem with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosetta_core.catalogue import load_catalogue
from rosetta_core.errors import ConfigError, ValidationError
from rosetta_core.model import AuthConvention

ROOT = Path(__file__).resolve().parent.parent


def test_the_starter_catalogue_loads() -> None:
    software = {s.name: s for s in load_catalogue(str(ROOT / "images" / "catalogue.toml"))}
    assert set(software) == {"http", "jupyter", "desktop", "ssh"}
    assert software["jupyter"].auth is AuthConvention.PASSWORD
    assert software["ssh"].image_ref == "localhost/rosetta-ssh:latest"
    assert software["ssh"].needs_root and not software["http"].needs_root


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("not = toml = =", ConfigError, "not valid TOML"),
        ("[software]\nname = 'x'\n", ConfigError, "no \\[\\[software\\]\\] entries"),
        (
            "[[software]]\nname = 'a'\nimage = 'x'\n[[software]]\nname = 'b;c'\nimage = 'Bad Image'\n",
            ValidationError,
            r"\$\.software\[1\]\.(name|image)",
        ),
    ],
)
def test_bad_catalogues(tmp_path: Path, text: str, error: type[Exception], match: str) -> None:
    file = tmp_path / "c.toml"
    file.write_text(text)
    with pytest.raises(error, match=match):
        load_catalogue(str(file))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read catalogue"):
        load_catalogue(str(tmp_path / "none.toml"))
