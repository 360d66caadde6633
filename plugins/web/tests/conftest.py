"""Fixtures of the web front's tests.

- ``fake_engine``: the :class:`~rosetta_core.testing.FakeEngine` the kernel's tasks run on (the
  front's own logic; the browser test in ``test_web_browser.py`` runs real containers).
- ``kernel``: a started kernel with ``auth-local`` (cheap argon2), ``web`` and the fake engine;
  computing ``here`` (engine ``fake``) and software ``lab`` (public, port 8888) are in its store.
- ``client``: a Starlette ``TestClient`` on the front; ``web_helpers.sign_up(client, name)`` signs
  a user up and in (the client then holds their session cookie) and returns the CSRF token of
  their forms.
- ``api_client(name)``: a client for a new user authenticated by an API token (no cookie).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient
from web_helpers import PASSWORD

import rosetta_auth_local.plugin
import rosetta_web.plugin
from rosetta_auth_local import create_api_token
from rosetta_auth_local import sign_up as sign_up_user
from rosetta_auth_local.testing import FAST_ARGON2
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software
from rosetta_core.testing import FakeEngine, FakeEnginePlugin
from rosetta_web.app import create_app


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def kernel(rosetta_kernel_factory: Callable[..., Kernel], fake_engine: FakeEngine) -> Kernel:
    made = rosetta_kernel_factory(
        {
            "auth-local": rosetta_auth_local.plugin,
            "web": rosetta_web.plugin,
            "fake-engine": FakeEnginePlugin(fake_engine),
        },
        plugin_options={"auth-local": FAST_ARGON2},
    )
    made.store.add(Computing(name="here", engines=("fake",)))
    made.store.add(Software(name="lab", image="jupyter/lab", interface_port=8888, description="A notebook"))
    return made


@pytest.fixture
def client(kernel: Kernel) -> Iterator[TestClient]:
    with TestClient(create_app(kernel), follow_redirects=False) as made:
        yield made


@pytest.fixture
def api_client(kernel: Kernel) -> Iterator[Callable[[str], TestClient]]:
    made: list[TestClient] = []

    def make(name: str) -> TestClient:
        user = sign_up_user(kernel, name, PASSWORD)
        token = create_api_token(kernel, user, "tests")
        client = TestClient(create_app(kernel), follow_redirects=False)
        client.headers["Authorization"] = f"Bearer {token}"
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
