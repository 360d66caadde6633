"""The entry point ``reverse`` in the ``rosetta`` group: registers nothing yet.

The plan: register a tunnel ``reverse`` whose agent request carries the platform's WebSocket URL
and a per-task secret, so that the in-job agent runs :func:`rosetta_reverse.agent_side.dial`
towards its task's interface, and whose proxy upstream is the task's
:class:`~rosetta_reverse.platform_side.LoopbackPort` on a shared
:class:`~rosetta_reverse.platform_side.ReverseListener`.
"""
