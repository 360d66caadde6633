"""The ``proxy`` tunnel: the tunnel contract, its endpoint URL and its open links."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator

import attrs
import pytest
from proxy_upstream import COMPUTING, make_task

from rosetta_core.model import AuthConvention, Software, Task
from rosetta_core.testing.contracts import TunnelContract
from rosetta_core.tunnels import Endpoint, Tunnel
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.tunnel import ProxyTunnel, task_authorization


class TestProxyTunnelContract(TunnelContract):
    @pytest.fixture
    def tunnel(self) -> Iterator[Tunnel]:
        proxy = ProxyTunnel("s")
        yield proxy
        proxy.close_all()


def test_the_endpoint_is_the_task_url_under_base_url() -> None:
    tunnel = ProxyTunnel("s", ProxyOptions(listen="127.0.0.1:9000", base_url="https://p.example/"))
    task = make_task(8888)
    endpoint = tunnel.open(task, COMPUTING)
    assert endpoint == Endpoint(host="127.0.0.1", port=9000, url=f"https://p.example/t/{task.id}/")
    route = tunnel.routes.get(task.id)
    assert route is not None and (route.owner, route.host, route.port) == ("alice", "127.0.0.1", 8888)
    tunnel.close(task.id)
    assert tunnel.routes.get(task.id) is None and tunnel.endpoint(task.id) is None


def test_a_task_without_an_interface_cannot_be_opened() -> None:
    task = Task(name="t", owner="alice", software="s", computing="local")
    with pytest.raises(ValueError, match="no interface address"):
        ProxyTunnel("s").open(task, COMPUTING)


def test_open_link_is_for_the_owner_and_single_use() -> None:
    tunnel = ProxyTunnel("s", ProxyOptions(listen="127.0.0.1:9000"))
    task = make_task(8888)
    link = urllib.parse.urlsplit(tunnel.open_link(task))
    assert (link.scheme, link.netloc, link.path) == ("http", "127.0.0.1:9000", f"/t/{task.id}/_rosetta/open")
    token = urllib.parse.parse_qs(link.query)["token"][0]
    grant = tunnel.tokens.redeem_link(token)
    assert grant is not None and (grant.task_id, grant.owner) == (task.id, "alice")
    assert tunnel.tokens.redeem_link(token) is None


def test_start_is_idempotent_and_close_all_stops() -> None:
    tunnel = ProxyTunnel("s", ProxyOptions(listen="127.0.0.1:0"))
    address = tunnel.start()
    assert tunnel.start() == address
    tunnel.open(make_task(8888), COMPUTING)
    tunnel.close_all()
    assert len(tunnel.routes) == 0
    tunnel.close_all()


def test_a_busy_port_raises() -> None:
    first = ProxyTunnel("s", ProxyOptions(listen="127.0.0.1:0"))
    host, port = first.start()
    try:
        with pytest.raises(OSError):
            ProxyTunnel("s", ProxyOptions(listen=f"{host}:{port}")).start()
    finally:
        first.close_all()


def test_open_asks_for_the_software_and_open_route_overrides() -> None:
    kept = Software(name="lab", image="x/lab", keeps_prefix=True)
    tunnel = ProxyTunnel("s", software={"lab": kept}.get)
    lab = attrs.evolve(make_task(8888), software="lab")
    other = attrs.evolve(make_task(8889), software="other")
    explicit = make_task(8890)
    tunnel.open(lab, COMPUTING)
    tunnel.open(other, COMPUTING)
    tunnel.open_route(explicit, strip_prefix=True)
    routes = [tunnel.routes.get(t.id) for t in (lab, other, explicit)]
    assert [r.strip_prefix for r in routes if r is not None] == [False, False, True]


@pytest.mark.parametrize(
    ("convention", "expected"),
    [
        (AuthConvention.NONE, None),
        (AuthConvention.PASSWORD, "token tok"),
        (AuthConvention.USER_PASSWORD, "Basic " + base64.b64encode(b"alice:tok").decode()),
    ],
)
def test_the_owner_is_signed_in_to_the_tasks_own_login(
    convention: AuthConvention, expected: str | None
) -> None:
    task = attrs.evolve(make_task(8888), software="lab", auth_token="tok")
    assert task_authorization(task, convention) == expected
    assert task_authorization(attrs.evolve(task, auth_token=None), convention) is None
    software = Software(name="lab", image="x/lab", auth=convention)
    tunnel = ProxyTunnel("s", software={"lab": software}.get)
    tunnel.open(task, COMPUTING)
    route = tunnel.routes.get(task.id)
    assert route is not None and route.authorization == expected
    assert "tok" not in repr(route)
