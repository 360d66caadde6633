"""The image builder interface: turn a source (a Git repository, a recipe) into an image."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from rosetta_core.executors import Executor


@runtime_checkable
class ImageBuilder(Protocol):
    """Builds an image from ``source`` and returns its reference; raises BackendError on failure."""

    name: str

    def build(self, source: str, ref: str, image: str, executor: Executor) -> str: ...
