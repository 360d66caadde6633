"""The one exception tree of the kernel.

Every error the kernel or a well-behaved plugin raises on purpose derives from
:class:`RosettaError`, so a caller can catch the whole family with one clause::

    RosettaError
     +-- ConfigError                 the site configuration is unreadable or invalid
     +-- PluginError                 a plugin cannot be loaded or is inconsistent
     |    +-- DuplicateNameError     two plugins registered the same name
     |    +-- UnknownNameError       a name was asked for that no plugin registered
     +-- ValidationError             input does not fit the model (carries every problem)
     +-- NotFoundError               no such record in the store
     +-- ConflictError               the record exists already / the change is not allowed now
     |    +-- InvalidTransition      a task cannot go from its status to the one asked
     +-- BackendError                a computing resource, engine or scheduler failed
          +-- ExecutorError          a command could not be run at all
          |    +-- CommandNotFound   the program does not exist there (not a passing fault)
          |    +-- CommandTimeout    a command did not finish in its time
          +-- BackendUnavailable     the backend could not be asked: the state is UNKNOWN
          +-- AccountRequired        the resource needs a user's own account; none was named
          +-- HostKeyError           the resource's host key is unknown or changed: nothing ran
          +-- AuthenticationFailed   the resource refused the account's credentials

Third-party exceptions are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations

from collections.abc import Sequence


class RosettaError(Exception):
    """Base of every error raised on purpose by the kernel and its plugins."""


class ConfigError(RosettaError):
    """The site configuration cannot be read or does not fit its schema."""


class PluginError(RosettaError):
    """A plugin cannot be loaded, validated or configured."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name in one registry."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        super().__init__(
            f"{kind} {name!r} is registered by two plugins: {first!r} and {second!r}; "
            f"disable one of them in the site configuration"
        )
        self.kind, self.name, self.first, self.second = kind, name, first, second


class UnknownNameError(PluginError):
    """A name was looked up that no enabled plugin registered."""

    def __init__(self, kind: str, name: str, known: Sequence[str]) -> None:
        choices = ", ".join(sorted(known)) or "none"
        super().__init__(f"no {kind} named {name!r} is registered (known: {choices})")
        self.kind, self.name = kind, name


class ValidationError(RosettaError):
    """Input does not fit the model. ``problems`` lists every issue, each naming its field path."""

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.what = what
        self.problems = list(problems)
        super().__init__(f"invalid {what}: " + "; ".join(self.problems))


class NotFoundError(RosettaError):
    """No record with that key exists in the store."""


class ConflictError(RosettaError):
    """The change conflicts with what is stored (a duplicate name, a record in use)."""


class InvalidTransition(ConflictError):
    """A task cannot move from its current status to the one asked."""


class BackendError(RosettaError):
    """A computing resource, container engine or workload manager reported a failure."""


class ExecutorError(BackendError):
    """A command could not be run on the computing resource."""


class CommandNotFound(ExecutorError):
    """The program is not installed on the computing resource: retrying will not help."""


class CommandTimeout(ExecutorError):
    """A command did not finish within its timeout."""


class BackendUnavailable(BackendError):
    """The backend could not be asked; callers must treat the state as UNKNOWN, never as gone."""


class AccountRequired(BackendError):
    """The computing resource is reached with each user's own account: name the user."""


class HostKeyError(BackendError):
    """A computing resource's host key is unknown or differs from the one trusted: nothing ran."""


class AuthenticationFailed(BackendError):
    """The computing resource refused the account's credentials."""
