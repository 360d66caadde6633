"""The README's commands stay true: the scripts exist, CI runs the test command, CLI examples parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from rosetta_core.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_two_commands_exist() -> None:
    assert "sudo bash scripts/serve.sh" in README
    assert "sudo bash scripts/test.sh" in README
    assert (ROOT / "scripts" / "serve.sh").exists() and (ROOT / "scripts" / "test.sh").exists()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def test_cli_examples_parse() -> None:
    docs = README + (ROOT / "docs" / "plugins.md").read_text()
    docs = re.sub(r"\\\n\s*", " ", docs)  # a command continued on the next line
    examples = [line.split("#")[0].strip() for line in re.findall(r"^rosetta .*$", docs, flags=re.M)]
    assert len(examples) >= 8
    parser = build_parser()
    for example in examples:
        args = parser.parse_args(shlex.split(example)[1:])
        assert args.handler, example
