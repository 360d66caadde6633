"""The plugin in a kernel: options, the tunnel, its key from the platform secret, shutdown."""

from __future__ import annotations

from collections.abc import Callable

import attrs
from proxy_upstream import COMPUTING, make_task

from rosetta_core.kernel import Kernel
from rosetta_core.model import Software
from rosetta_proxy import plugin
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.tokens import Tokens
from rosetta_proxy.tunnel import ProxyTunnel


def test_registers_the_tunnel_with_its_options(rosetta_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = rosetta_kernel_factory(
        {"proxy": plugin},
        plugin_options={"proxy": {"listen": "127.0.0.1:0", "base_url": "https://p.example", "link_ttl": 30}},
    )
    assert kernel.plugin_registrations("proxy") == {"tunnels": ["proxy"], "options": ["ProxyOptions"]}
    assert kernel.options(ProxyOptions).link_ttl == 30
    tunnel = kernel.tunnels.get("proxy")
    assert isinstance(tunnel, ProxyTunnel)
    task = make_task(8888)
    assert tunnel.open(task, COMPUTING).url == f"https://p.example/t/{task.id}/"
    # links are signed with a key derived from the platform secret
    token = tunnel.open_link(task).partition("token=")[2]
    assert Tokens(kernel.secret).redeem_link(token) is not None
    tunnel.start()
    kernel.close()
    assert tunnel.endpoint(task.id) is None


def test_open_keeps_the_prefix_only_for_software_that_keeps_it(
    rosetta_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = rosetta_kernel_factory({"proxy": plugin}, plugin_options={"proxy": {"listen": "127.0.0.1:0"}})
    kernel.store.add(Software(name="lab", image="x/lab", interface_port=8888, keeps_prefix=True))
    kernel.store.add(Software(name="web", image="x/web", interface_port=8080))
    tunnel = kernel.tunnels.get("proxy")
    assert isinstance(tunnel, ProxyTunnel)
    strips = {}
    for name in ("lab", "web", "gone"):
        task = attrs.evolve(make_task(8888), software=name)
        tunnel.open(task, COMPUTING)
        route = tunnel.routes.get(task.id)
        assert route is not None
        strips[name] = route.strip_prefix
    # software that is no longer in the store falls back to the tunnel's default
    assert strips == {"lab": False, "web": True, "gone": False}
