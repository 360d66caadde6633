"""The web front of the rosetta platform: pages and the REST API ``/api/v1/`` over a kernel.

:func:`~rosetta_web.app.create_app` builds the Starlette application for a started kernel;
:class:`~rosetta_web.server.WebServer` serves it on a thread; the entry point ``web`` starts it in
``rosetta serve`` (hook ``rosetta_serve``). Who may do what lives in :mod:`rosetta_web.actions`,
shared by the pages and the API.
"""
