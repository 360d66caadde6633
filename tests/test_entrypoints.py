"""entrypoints.toml agrees with the plugins' pyproject.toml files and with what they register."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from rosetta_core.config import parse_config
from rosetta_core.kernel import create_kernel

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = tomllib.loads((ROOT / "entrypoints.toml").read_text())["plugins"]


def declared_entry_points() -> dict[str, dict[str, Any]]:
    """Entry points of group "rosetta" in the root and every plugins/*/pyproject.toml."""
    found: dict[str, dict[str, Any]] = {}
    for pyproject in [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]:
        project = tomllib.loads(pyproject.read_text())["project"]
        for name, module in project.get("entry-points", {}).get("rosetta", {}).items():
            assert name not in found, f"entry point {name!r} is declared twice"
            path = pyproject.parent.relative_to(ROOT).as_posix()
            found[name] = {"distribution": project["name"], "path": path, "module": module}
    return found


def test_manifest_lists_exactly_the_declared_plugins() -> None:
    declared = declared_entry_points()
    assert sorted(MANIFEST) == sorted(declared)
    for name, entry in declared.items():
        manifest = MANIFEST[name]
        assert {k: manifest[k] for k in ("distribution", "path", "module")} == entry, name


def test_every_plugin_folder_is_a_distribution() -> None:
    for folder in sorted(
        p for p in (ROOT / "plugins").iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        assert (folder / "pyproject.toml").exists(), f"{folder} has no pyproject.toml"


def test_manifest_registrations_match_the_loaded_plugins(tmp_path: Path) -> None:
    config = parse_config({"rosetta": {"store": str(tmp_path / "s.sqlite")}}, base_dir=tmp_path)
    with create_kernel(config) as kernel:
        installed = {info.name for info in kernel.plugins}
        missing = sorted(set(MANIFEST) - installed)
        if missing:
            pytest.fail(f"plugins not installed in this environment (run scripts/setup-dev.sh): {missing}")
        for name, manifest in MANIFEST.items():
            registered = sorted(
                f"{kind}:{item}"
                for kind, items in kernel.plugin_registrations(name).items()
                for item in items
            )
            assert registered == sorted(manifest["registers"]), name
