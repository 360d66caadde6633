"""The route table: which upstream serves ``/t/<task-id>/``, and for whom."""

from __future__ import annotations

import threading

import attrs


@attrs.frozen(kw_only=True)
class Route:
    """One task's route.

    ``strip_prefix``: the upstream is sent ``/rest`` instead of ``/t/<task-id>/rest`` (for
    interfaces that do not know they live under a prefix). ``authorization``: the
    ``Authorization`` value sent upstream on the owner's behalf when the request carries none
    (the task's own login, so one click opens it).
    """

    task_id: str
    owner: str
    host: str
    port: int
    strip_prefix: bool = False
    authorization: str | None = attrs.field(default=None, repr=False)

    @property
    def prefix(self) -> str:
        """The public path of the route, with its trailing slash (the cookie's ``Path``)."""
        return f"/t/{self.task_id}/"


class RouteTable:
    """Task id -> :class:`Route`. Every method is O(1) and safe from any thread.

    A route added is seen by the very next lookup (the server reads the table on every request).
    """

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()

    def add(self, route: Route) -> Route:
        """Add ``route``, or replace the route of the same task; returns ``route``."""
        with self._lock:
            self._routes[route.task_id] = route
        return route

    def get(self, task_id: str) -> Route | None:
        """The route of ``task_id``, or ``None``."""
        with self._lock:
            return self._routes.get(task_id)

    def remove(self, task_id: str) -> Route | None:
        """Remove the route of ``task_id`` (a no-op when there is none); returns what was removed."""
        with self._lock:
            return self._routes.pop(task_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._routes)
