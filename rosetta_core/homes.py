"""The home folder of the account an executor acts as (asked once), and paths relative to it.

Workload managers keep job folders, and the agent its status files, under that home.
"""

from __future__ import annotations

import posixpath
import threading

from rosetta_core.errors import BackendError, BackendUnavailable
from rosetta_core.executors import Executor

# a constant program, no value spliced in: the account's $HOME as its login sets it
HOME_ARGV = ("sh", "-c", 'printf "%s" "$HOME"')


class Homes:
    """The home folder of each executor's account, asked once per executor and then remembered.

    Thread-safe. An executor is remembered with its home for the life of this object (executors
    are few and long-lived: a factory hands out one per resource and account).
    """

    def __init__(self) -> None:
        self._known: dict[int, tuple[Executor, str]] = {}
        self._lock = threading.Lock()

    def of(self, executor: Executor, timeout: float) -> str:
        """The home folder of ``executor``'s account: an absolute path.

        Raises :class:`BackendUnavailable` when it cannot be asked, :class:`BackendError` when the
        answer is not an absolute path.
        """
        with self._lock:
            known = self._known.get(id(executor))
        if known is not None and known[0] is executor:
            return known[1]
        try:
            done = executor.run(list(HOME_ARGV), timeout=timeout)
        except BackendError as exc:
            raise BackendUnavailable(f"cannot ask the resource for the account's home folder: {exc}") from exc
        home = done.stdout
        if not done.ok or not home.startswith("/") or any(c in home for c in "\n\r\x00"):
            raise BackendError(f"the resource reports no usable home folder: {done.stderr.strip()[:200]!r}")
        with self._lock:
            self._known[id(executor)] = (executor, home)
        return home


def absolute(folder: str, home: str) -> str:
    """``folder`` itself when absolute, else ``folder`` under ``home``."""
    return posixpath.normpath(posixpath.join(home, folder))
