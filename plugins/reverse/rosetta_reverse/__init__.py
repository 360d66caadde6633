"""The reverse tunnel: reach a task's interface on a node that accepts no inbound connections.

The in-job agent dials out to the platform over one WebSocket; the platform multiplexes many TCP
connections over it.

- :mod:`rosetta_reverse.frames`: the multiplexing protocol (stream id, type, payload).
- :mod:`rosetta_reverse.websocket`: a minimal RFC 6455 WebSocket (standard library, Python 3.6).
- :mod:`rosetta_reverse.mux`: TCP sockets bridged to the streams of one WebSocket (Python 3.6).
- :mod:`rosetta_reverse.agent_side`: the node's end, ``dial`` (Python 3.6).
- :mod:`rosetta_reverse.platform_side`: the platform's end, ``ReverseListener`` and ``LoopbackPort``.
"""
