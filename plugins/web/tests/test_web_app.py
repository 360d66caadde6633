"""The application: routes mounted, errors in one shape under /api/, an error page elsewhere."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_the_main_page_shows_the_site_text(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "Run software containers" in page.text


def test_the_api_answers_health(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok"}


def test_an_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    answer = client.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["error"] == {
        "status": 404,
        "code": "not_found",
        "message": "no such page",
        "fields": {},
    }


def test_a_method_a_path_does_not_take_is_a_json_405(client: TestClient) -> None:
    answer = client.delete("/api/v1/health")
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in answer.headers["allow"]


def test_an_unknown_page_is_an_error_page(client: TestClient) -> None:
    answer = client.get("/nothing-here")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    assert "no such page" in answer.text


def test_static_files_are_served(client: TestClient) -> None:
    assert client.get("/static/site.css").status_code == 200
