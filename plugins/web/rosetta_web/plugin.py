"""The hook implementations: the entry point ``web`` in the ``rosetta`` group points here.

Registers :class:`~rosetta_web.options.WebOptions` (the ``[plugin.web]`` section). In ``rosetta
serve`` (hook ``rosetta_serve``) it makes the first admin when the store has none (printing the
generated password once), starts the front on ``listen`` and prints its address; it stops the
front when the kernel shuts down.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rosetta_core import hookimpl
from rosetta_core.errors import ConfigError
from rosetta_web.options import WebOptions

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel
    from rosetta_web.server import WebServer

_servers: weakref.WeakKeyDictionary[Kernel, WebServer] = weakref.WeakKeyDictionary()


@hookimpl
def rosetta_register_options(register: Callable[[type[Any]], None]) -> None:
    register(WebOptions)


@hookimpl
def rosetta_serve(kernel: Kernel) -> list[str]:
    # imported here: Starlette, Jinja2 and uvicorn are for the serving process only, not for every
    # command that loads the plugins
    from rosetta_auth_local import create_admin, has_admin
    from rosetta_web.app import create_app
    from rosetta_web.server import WebServer

    options = kernel.options(WebOptions)
    lines = []
    if not has_admin(kernel):
        user, password = create_admin(kernel, options.admin_name)
        lines.append(f"first admin: sign in as {user.name!r} with the password {password!r} (shown once)")
    server = WebServer(create_app(kernel, options), *options.address)
    try:
        host, port = server.start()
    except OSError as exc:
        raise ConfigError(f"the web front cannot start: {exc} (set [plugin.web] listen)") from exc
    _servers[kernel] = server
    url = options.public_url.rstrip("/") if options.public_url else f"http://{host}:{port}"
    return [f"the web front is at {url}/", *lines]


@hookimpl
def rosetta_shutdown(kernel: Kernel) -> None:
    server = _servers.pop(kernel, None)
    if server is not None:
        server.close()
