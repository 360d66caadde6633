"""The ``proxy`` tunnel: one authenticating HTTP/1.1 and WebSocket reverse proxy for every task.

- :mod:`rosetta_proxy.routes`: the route table (task id -> upstream), changed from any thread.
- :mod:`rosetta_proxy.tokens`: single-use open links and the per-task cookie.
- :mod:`rosetta_proxy.http`: the strict HTTP/1.1 message parser.
- :mod:`rosetta_proxy.pool`: idle keep-alive upstream connections, bounded per upstream.
- :mod:`rosetta_proxy.server`: :class:`~rosetta_proxy.server.ProxyServer`, the asyncio server.
- :mod:`rosetta_proxy.tunnel`: :class:`~rosetta_proxy.tunnel.ProxyTunnel`, the tunnel kind.
"""
