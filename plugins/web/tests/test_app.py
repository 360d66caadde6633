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


def test_static_files_are_served(client: TestClient) -> None:
    assert client.get("/static/site.css").status_code == 200
