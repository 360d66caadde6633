"""Routing by subdomain: ``<task-id>.<tasks_domain>`` reaches the task at its root."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator

import pytest
from proxy_upstream import SECRET, Upstream, make_task

from rosetta_core.model import Task
from rosetta_core.validators import FieldError
from rosetta_proxy.options import ProxyOptions
from rosetta_proxy.tunnel import ProxyTunnel

DOMAIN = "tasks.example.org"


@pytest.fixture
def sub_tunnel() -> Iterator[ProxyTunnel]:
    proxy = ProxyTunnel(SECRET, ProxyOptions(listen="127.0.0.1:0", tasks_domain=DOMAIN))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close_all()


def request(
    tunnel: ProxyTunnel, host: str, target: str, cookie: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*tunnel.server.address, timeout=10)
    try:
        headers = {"Host": host, **({"Cookie": cookie} if cookie else {})}
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def host_of(task: Task) -> str:
    return f"{task.id}.{DOMAIN}"


def sub_login(tunnel: ProxyTunnel, task: Task) -> tuple[str, dict[str, str]]:
    """Follow the task's open link on its subdomain: the cookie and the response's headers."""
    parts = urllib.parse.urlsplit(tunnel.open_link(task))
    status, headers, _ = request(tunnel, parts.netloc, f"{parts.path}?{parts.query}")
    assert status == 302, status
    return headers["Set-Cookie"].split(";")[0], headers


def opened(tunnel: ProxyTunnel, upstream: Upstream, owner: str = "alice") -> Task:
    task = make_task(upstream.port, owner)
    tunnel.open_route(task, strip_prefix=True)
    return task


def test_the_link_and_url_are_on_the_tasks_subdomain(sub_tunnel: ProxyTunnel, upstream: Upstream) -> None:
    task = opened(sub_tunnel, upstream)
    port = sub_tunnel.options.address[1]
    endpoint = sub_tunnel.endpoint(task.id)
    assert endpoint is not None and endpoint.url == f"http://{task.id}.{DOMAIN}:{port}/"
    link = sub_tunnel.open_link(task)
    assert link.startswith(f"http://{task.id}.{DOMAIN}:{port}/_rosetta/open?token=")


def test_the_cookie_is_host_only_on_the_subdomain(sub_tunnel: ProxyTunnel, upstream: Upstream) -> None:
    task = opened(sub_tunnel, upstream)
    _, headers = sub_login(sub_tunnel, task)
    attributes = [a.strip() for a in headers["Set-Cookie"].split(";")]
    assert "Path=/" in attributes
    assert not any(a.lower().startswith("domain") for a in attributes)
    assert headers["Location"] == "/"


def test_the_path_goes_upstream_as_is(sub_tunnel: ProxyTunnel, upstream: Upstream) -> None:
    task = opened(sub_tunnel, upstream)
    cookie, _ = sub_login(sub_tunnel, task)
    status, _, body = request(
        sub_tunnel, f"{host_of(task)}:{sub_tunnel.options.address[1]}", "/echo?x=1", cookie
    )
    assert status == 200
    echoed = json.loads(body)
    assert echoed["path"] == "/echo?x=1"
    headers = {k.lower(): v for k, v in echoed["headers"]}
    assert "x-forwarded-prefix" not in headers
    assert "rosetta_proxy" not in headers.get("cookie", "")
    assert headers["host"] == headers["x-forwarded-host"]


def test_without_a_cookie_the_subdomain_is_401(sub_tunnel: ProxyTunnel, upstream: Upstream) -> None:
    task = opened(sub_tunnel, upstream)
    status, _, _ = request(sub_tunnel, host_of(task), "/echo")
    assert status == 401


def test_a_cookie_of_task_a_is_refused_on_task_bs_subdomain(
    sub_tunnel: ProxyTunnel, upstream: Upstream
) -> None:
    a, b = opened(sub_tunnel, upstream), opened(sub_tunnel, upstream)
    cookie_a, _ = sub_login(sub_tunnel, a)
    assert request(sub_tunnel, host_of(a), "/echo", cookie_a)[0] == 200
    assert request(sub_tunnel, host_of(b), "/echo", cookie_a)[0] == 403


def test_a_link_of_task_a_is_refused_on_task_bs_subdomain(
    sub_tunnel: ProxyTunnel, upstream: Upstream
) -> None:
    a, b = opened(sub_tunnel, upstream), opened(sub_tunnel, upstream)
    query = urllib.parse.urlsplit(sub_tunnel.open_link(a)).query
    assert request(sub_tunnel, host_of(b), f"/_rosetta/open?{query}")[0] == 401


@pytest.mark.parametrize(
    "host",
    [
        "unknown.tasks.example.org",
        "{id}.other.example.org",
        "{id}.tasks.example.org.evil",
        "x.{id}.tasks.example.org",
    ],
)
def test_other_hosts_fall_back_to_path_routing(
    sub_tunnel: ProxyTunnel, upstream: Upstream, host: str
) -> None:
    task = opened(sub_tunnel, upstream)
    host = host.format(id=task.id)
    # the subdomain's root is not a task path: 404
    assert request(sub_tunnel, host, "/echo")[0] == 404
    status, headers, _ = request(sub_tunnel, host, f"/t/{task.id}/_rosetta/open?token=x")
    assert status == 401
    link = urllib.parse.urlsplit(sub_tunnel.open_link(task))
    status, headers, _ = request(sub_tunnel, host, f"/t/{task.id}{link.path}?{link.query}")
    assert status == 302
    assert f"Path=/t/{task.id}/" in headers["Set-Cookie"]
    cookie = headers["Set-Cookie"].split(";")[0]
    status, _, body = request(sub_tunnel, host, f"/t/{task.id}/echo", cookie)
    assert status == 200 and json.loads(body)["path"] == "/echo"


def test_a_kept_prefix_is_served_under_it_on_the_subdomain(
    sub_tunnel: ProxyTunnel, upstream: Upstream
) -> None:
    task = make_task(upstream.port)
    endpoint = sub_tunnel.open_route(task, strip_prefix=False)
    assert endpoint.url == f"http://{host_of(task)}:{sub_tunnel.options.address[1]}/t/{task.id}/"
    cookie, headers = sub_login(sub_tunnel, task)
    assert headers["Location"] == f"/t/{task.id}/"
    status, _, body = request(sub_tunnel, host_of(task), f"/t/{task.id}/echo", cookie)
    assert status == 200 and json.loads(body)["path"] == f"/t/{task.id}/echo"


def test_the_login_redirect_names_the_subdomain_url(upstream: Upstream) -> None:
    options = ProxyOptions(
        listen="127.0.0.1:0", tasks_domain=DOMAIN, login_url="https://platform.example/login"
    )
    proxy = ProxyTunnel(SECRET, options)
    proxy.start()
    try:
        task = opened(proxy, upstream)
        status, headers, _ = request(proxy, host_of(task), "/echo")
        assert status == 302
        next_url = urllib.parse.quote(f"http://{host_of(task)}/echo", safe="/")
        assert headers["Location"] == f"https://platform.example/login?next={next_url}"
    finally:
        proxy.close_all()


@pytest.mark.parametrize(
    "bad", ["Tasks.Example.org", "example", ".tasks.example.org", "https://t.example.org", 3]
)
def test_tasks_domain_must_be_a_dns_name(bad: object) -> None:
    with pytest.raises(FieldError):
        ProxyOptions(tasks_domain=bad)  # type: ignore[arg-type]
