"""Who is asking: an API token or the session cookie; CSRF on state changes."""

from __future__ import annotations

from starlette.testclient import TestClient
from web_helpers import PASSWORD, sign_up

from rosetta_auth_local import create_api_token
from rosetta_auth_local import sign_up as sign_up_user
from rosetta_core.kernel import Kernel

ME = "/api/v1/account"


def test_a_bearer_token_authenticates(client: TestClient, kernel: Kernel) -> None:
    token = create_api_token(kernel, sign_up_user(kernel, "ada", PASSWORD), "t")
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).json()["user"]["name"] == "ada"


def test_a_bad_or_oversized_bearer_token_is_no_one(client: TestClient) -> None:
    sign_up(client, "ada")  # the cookie does not rescue a request that names a bad token
    for value in ("Bearer rst_nope", "Bearer ", "Bearer " + "x" * 600):
        assert client.get(ME, headers={"Authorization": value}).status_code == 401


def test_another_scheme_leaves_the_cookie_to_decide(client: TestClient) -> None:
    # a front with its own HTTP Basic sign-in adds this header to every request
    sign_up(client, "ada")
    assert client.get(ME, headers={"Authorization": "Basic YTpi"}).json()["user"]["name"] == "ada"
    client.cookies.clear()
    assert client.get(ME, headers={"Authorization": "Basic YTpi"}).status_code == 401


def test_a_cookie_request_that_changes_state_needs_the_csrf_token(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    body = {"label": "script"}
    assert client.post(f"{ME}/tokens", json=body).status_code == 403
    assert client.post(f"{ME}/tokens", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    made = client.post(f"{ME}/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
