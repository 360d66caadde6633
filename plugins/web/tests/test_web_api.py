"""The REST API: sign-in, records, tasks of two users kept apart, bad input refused unsaved."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from web_helpers import PASSWORD

from rosetta_auth_local import sign_up as sign_up_user
from rosetta_core.kernel import Kernel
from rosetta_core.model import AuthConvention, Computing, Software, Storage, Task, TaskOptions, TaskStatus
from rosetta_core.serde import unstructure
from rosetta_web.api import ENDPOINTS, MAX_BODY, task_json
from rosetta_web.app import create_app

API = "/api/v1"
MakeClient = Callable[[str], TestClient]


@pytest.fixture
def admin(api_client: MakeClient) -> TestClient:
    """The store's first user, so an admin."""
    return api_client("root")


@pytest.fixture
def ada(admin: TestClient, api_client: MakeClient) -> TestClient:
    return api_client("ada")


@pytest.fixture
def bob(admin: TestClient, api_client: MakeClient) -> TestClient:
    return api_client("bob")


def start(client: TestClient, **fields: Any) -> dict[str, Any]:
    answer = client.post(f"{API}/tasks", json={"software": "lab", "computing": "here", **fields})
    assert answer.status_code == 201, answer.text
    task: dict[str, Any] = answer.json()
    return task


def error_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()["error"]
    assert body["status"] == status and set(body) == {"status", "code", "message", "fields"}
    return body


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (
            m,
            p.replace("{task_id}", "x")
            .replace("{name}", "x")
            .replace("{computing}", "x")
            .replace("{token_id}", "x"),
        )
        for m, p, _ in ENDPOINTS
        if (m, p)
        not in {("GET", "/health"), ("GET", "/openapi.json"), ("POST", "/session"), ("POST", "/users")}
    ],
)
def test_every_endpoint_but_the_public_ones_needs_a_sign_in(
    client: TestClient, method: str, path: str
) -> None:
    error_of(client.request(method, API + path, json={}), 401)


def test_a_bad_token_is_refused(client: TestClient) -> None:
    client.headers["Authorization"] = "Bearer rst_not-a-token"
    error_of(client.get(f"{API}/tasks"), 401)


def test_sign_in_sets_the_session_and_the_csrf_header_guards_changes(
    kernel: Kernel, client: TestClient
) -> None:
    sign_up_user(kernel, "ada", PASSWORD)
    answer = client.post(f"{API}/session", json={"username": "ada", "password": PASSWORD})
    assert answer.status_code == 200
    assert answer.json()["user"]["name"] == "ada" and "password" not in answer.text
    csrf = answer.json()["csrf"]
    assert client.get(f"{API}/tasks").status_code == 200  # the cookie suffices to read
    error_of(client.post(f"{API}/tasks", json={"software": "lab", "computing": "here"}), 403)
    assert kernel.store.list_tasks() == []
    made = client.post(
        f"{API}/tasks", json={"software": "lab", "computing": "here"}, headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 201


def test_sign_out_ends_the_session(kernel: Kernel, client: TestClient) -> None:
    sign_up_user(kernel, "ada", PASSWORD)
    csrf = client.post(f"{API}/session", json={"username": "ada", "password": PASSWORD}).json()["csrf"]
    assert client.delete(f"{API}/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    error_of(client.get(f"{API}/tasks"), 401)


def test_signing_out_with_a_token_leaves_the_token_valid(ada: TestClient) -> None:
    assert ada.delete(f"{API}/session").status_code == 204
    assert ada.get(f"{API}/tasks").status_code == 200


def test_a_wrong_password_is_401_then_429_with_retry_after(kernel: Kernel, client: TestClient) -> None:
    sign_up_user(kernel, "ada", PASSWORD)
    statuses = [
        client.post(f"{API}/session", json={"username": "ada", "password": "wrong wrong"}) for _ in range(6)
    ]
    error_of(statuses[0], 401)
    last = error_of(statuses[-1], 429)
    assert last["code"] == "too_many_attempts" and int(statuses[-1].headers["Retry-After"]) >= 1


def test_sign_in_refuses_bad_fields(client: TestClient) -> None:
    body = error_of(client.post(f"{API}/session", json={"username": 5, "pass": "x"}), 422)
    assert set(body["fields"]) == {"username", "password", "pass"}


def test_sign_up_makes_a_user(kernel: Kernel, client: TestClient) -> None:
    answer = client.post(f"{API}/users", json={"username": "ada", "password": PASSWORD, "email": "a@b.org"})
    assert answer.status_code == 201 and answer.json()["user"]["name"] == "ada"
    assert "password" not in answer.text
    error_of(client.post(f"{API}/users", json={"username": "ada", "password": PASSWORD}), 409)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "../../etc", "password": PASSWORD}, "username"),
        ({"username": "ada; rm -rf /", "password": PASSWORD}, "username"),
        ({"username": "ada", "password": "short"}, "password"),
        ({"username": "ada", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ({"username": "ada", "password": PASSWORD, "email": 7}, "email"),
    ],
)
def test_sign_up_refuses_bad_input(
    kernel: Kernel, client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert field in error_of(client.post(f"{API}/users", json=body), 422)["fields"]
    assert client.post(f"{API}/session", json={"username": "ada", "password": PASSWORD}).status_code == 401


# ---------------------------------------------------------------- software, computing, storages


def test_software_lists_finds_and_shows(ada: TestClient) -> None:
    assert [s["name"] for s in ada.get(f"{API}/software").json()["software"]] == ["lab"]
    assert ada.get(f"{API}/software", params={"q": "NOTEBOOK"}).json()["software"][0]["name"] == "lab"
    assert ada.get(f"{API}/software", params={"q": "nothing"}).json() == {"software": []}
    assert ada.get(f"{API}/software/lab").json()["image"] == "jupyter/lab"
    error_of(ada.get(f"{API}/software/none"), 404)


def test_a_users_software_is_theirs_alone(kernel: Kernel, ada: TestClient, bob: TestClient) -> None:
    made = ada.post(f"{API}/software", json={"name": "mine", "image": "ada/tool", "env": {"KEY": "s3cret"}})
    assert (
        made.status_code == 201 and made.json()["owner"] == "ada" and made.json()["env"] == {"KEY": "s3cret"}
    )
    error_of(bob.get(f"{API}/software/mine"), 404)
    assert "mine" not in bob.get(f"{API}/software").text
    error_of(ada.post(f"{API}/software", json={"name": "mine", "image": "ada/tool"}), 409)


def test_the_env_of_public_software_is_for_admins(kernel: Kernel, admin: TestClient, ada: TestClient) -> None:
    assert (
        admin.post(f"{API}/software", json={"name": "pub", "image": "x/y", "env": {"K": "v"}}).status_code
        == 201
    )
    assert "env" not in ada.get(f"{API}/software/pub").json()
    assert admin.get(f"{API}/software/pub").json()["env"] == {"K": "v"}


def test_only_admins_add_computing(kernel: Kernel, admin: TestClient, ada: TestClient) -> None:
    body = {"name": "hpc", "engines": ["fake"], "description": "the cluster"}
    assert error_of(ada.post(f"{API}/computing", json=body), 403)["code"] == "forbidden"
    assert [c.name for c in kernel.store.all(Computing)] == ["here"]
    made = admin.post(f"{API}/computing", json=body)
    assert made.status_code == 201 and made.json()["owner"] is None
    assert ada.get(f"{API}/computing/hpc").json()["description"] == "the cluster"
    assert [c["name"] for c in ada.get(f"{API}/computing").json()["computing"]] == ["here", "hpc"]
    error_of(ada.get(f"{API}/computing/none"), 404)


def test_storages_are_listed(kernel: Kernel, ada: TestClient) -> None:
    kernel.store.add(Storage(name="home", base_path="/data/$USER", bind_path="/home/$USER"))
    kernel.store.add(Storage(name="bobs", base_path="/b", bind_path="/b", owner="bob"))
    assert [s["name"] for s in ada.get(f"{API}/storages").json()["storages"]] == ["home"]


# ---------------------------------------------------------------- tasks


def test_a_task_is_started_listed_shown_read_and_stopped(ada: TestClient) -> None:
    task = start(ada, name="nb", cpus=2)
    assert task["status"] == "running" and task["name"] == "nb" and task["options"]["cpus"] == 2
    assert {"software", "computing", "created_at", "error", "exit_code", "interface_port"} <= set(task)
    assert [t["id"] for t in ada.get(f"{API}/tasks").json()["tasks"]] == [task["id"]]
    assert ada.get(f"{API}/tasks/{task['id']}").json()["name"] == "nb"
    assert ada.get(f"{API}/tasks/{task['id']}/logs", params={"tail": 5}).json() == {"logs": ""}
    assert ada.post(f"{API}/tasks/{task['id']}/connect").json()["url"].endswith(str(task["interface_port"]))
    stopped = ada.post(f"{API}/tasks/{task['id']}/stop").json()
    assert stopped["status"] == "stopped"
    assert [t["status"] for t in ada.get(f"{API}/tasks", params={"status": "running"}).json()["tasks"]] == []
    assert len(ada.get(f"{API}/tasks", params={"status": "stopped"}).json()["tasks"]) == 1
    assert error_of(ada.post(f"{API}/tasks/{task['id']}/connect"), 409)["code"] == "conflict"


def test_logs_give_the_last_lines(ada: TestClient, fake_engine: Any) -> None:
    task = start(ada)
    fake_engine.containers[task["handle"]].output = "one\ntwo\nthree\n"
    assert ada.get(f"{API}/tasks/{task['id']}/logs", params={"tail": 2}).json() == {"logs": "two\nthree"}


@pytest.mark.parametrize("tail", ["0", "5001", "-1", "x", "1e3", "99999999999"])
def test_a_bad_tail_is_422(ada: TestClient, tail: str) -> None:
    task = start(ada)
    assert "tail" in error_of(ada.get(f"{API}/tasks/{task['id']}/logs", params={"tail": tail}), 422)["fields"]


def test_a_bad_status_filter_is_422(ada: TestClient) -> None:
    assert "status" in error_of(ada.get(f"{API}/tasks", params={"status": "sleeping"}), 422)["fields"]


def test_no_task_secret_is_ever_shown(kernel: Kernel, ada: TestClient) -> None:
    kernel.store.add(Software(name="locked", image="x/y", interface_port=80, auth=AuthConvention.PASSWORD))
    task = start(ada, software="locked")
    secret = kernel.store.get_task(task["id"]).auth_token
    assert secret
    answers = [
        ada.get(f"{API}/tasks"),
        ada.get(f"{API}/tasks/{task['id']}"),
        ada.post(f"{API}/tasks/{task['id']}/stop"),
    ]
    assert all("auth_token" not in a.text and secret not in a.text for a in answers)


# ---------------------------------------------------------------- two users


@pytest.fixture
def bobs_task(bob: TestClient) -> dict[str, Any]:
    return start(bob)


def test_a_user_lists_only_their_tasks(ada: TestClient, bobs_task: dict[str, Any]) -> None:
    mine = start(ada)
    assert [t["id"] for t in ada.get(f"{API}/tasks").json()["tasks"]] == [mine["id"]]
    assert bobs_task["id"] not in ada.get(f"{API}/tasks", params={"status": "running"}).text


OTHERS = [
    ("GET", "/tasks/{id}"),
    ("POST", "/tasks/{id}/stop"),
    ("GET", "/tasks/{id}/logs"),
    ("POST", "/tasks/{id}/connect"),
]


@pytest.mark.parametrize(("method", "path"), OTHERS)
def test_another_users_task_is_not_found_like_a_missing_one(
    kernel: Kernel, ada: TestClient, bobs_task: dict[str, Any], method: str, path: str
) -> None:
    theirs = error_of(ada.request(method, API + path.format(id=bobs_task["id"])), 404)
    missing = error_of(ada.request(method, API + path.format(id="0" * 32)), 404)
    assert theirs["code"] == missing["code"] == "not_found"
    assert theirs["message"].replace(bobs_task["id"], "0" * 32) == missing["message"]
    assert kernel.store.get_task(bobs_task["id"]).status.value == "running"  # the stop did nothing


def test_an_admin_does_not_reach_another_users_task_either(
    admin: TestClient, bobs_task: dict[str, Any]
) -> None:
    error_of(admin.post(f"{API}/tasks/{bobs_task['id']}/stop"), 404)


# ---------------------------------------------------------------- account


def test_the_account_shows_keys_accounts_and_tokens_never_their_values(ada: TestClient) -> None:
    made = ada.post(f"{API}/account/tokens", json={"label": "laptop"})
    assert made.status_code == 201 and made.json()["token"].startswith("rst_")
    assert ada.put(f"{API}/account/computing/here", json={"account": "ada1"}).json() == {
        "computing": "here",
        "account": "ada1",
    }
    account = ada.get(f"{API}/account")
    data = account.json()
    assert data["user"]["name"] == "ada" and data["accounts"] == [{"computing": "here", "account": "ada1"}]
    assert [t["label"] for t in data["api_tokens"]] == ["tests", "laptop"]
    assert made.json()["token"] not in account.text and "rst_" not in account.text
    assert isinstance(data["public_keys"], list)


def test_a_token_is_revoked_by_its_id(kernel: Kernel, ada: TestClient, bob: TestClient) -> None:
    made = ada.post(f"{API}/account/tokens", json={"label": "script"}).json()
    error_of(bob.delete(f"{API}/account/tokens/{made['id']}"), 404)
    with TestClient(create_app(kernel)) as script:
        script.headers["Authorization"] = f"Bearer {made['token']}"
        assert script.get(f"{API}/tasks").status_code == 200
        assert ada.delete(f"{API}/account/tokens/{made['id']}").status_code == 204
        error_of(script.get(f"{API}/tasks"), 401)
    error_of(ada.delete(f"{API}/account/tokens/{made['id']}"), 404)


# ---------------------------------------------------------------- bad input


def snapshot(kernel: Kernel) -> tuple[Any, ...]:
    """Everything a request of these tests could write."""
    return (
        kernel.store.list_tasks(),
        kernel.store.count_events(),
        kernel.store.all(Software),
        kernel.store.all(Computing),
        kernel.store.accounts("root"),
        [kernel.store.accounts(n) for n in ("ada", "bob")],
    )


@pytest.fixture
def unchanged(kernel: Kernel, admin: TestClient) -> Iterator[None]:
    before = snapshot(kernel)
    yield
    assert snapshot(kernel) == before


HUGE = 10**30
BAD_TASKS = [
    ({"software": 5, "computing": "here"}, "software"),
    ({"software": "lab", "computing": ["here"]}, "computing"),
    ({"software": "lab"}, "computing"),
    ({"software": "../../etc/passwd", "computing": "here"}, "software"),
    ({"software": "lab", "computing": "here/../x"}, "computing"),
    ({"software": "lab", "computing": "here", "name": "../../etc"}, "name"),
    ({"software": "lab", "computing": "here", "name": "nb; rm -rf /"}, "name"),
    ({"software": "lab", "computing": "here", "name": "$(reboot)"}, "name"),
    ({"software": "lab", "computing": "here", "name": "x" * 10_000}, "name"),
    ({"software": "lab", "computing": "here", "name": 7}, "name"),
    ({"software": "lab", "computing": "here", "cpus": "2"}, "cpus"),
    ({"software": "lab", "computing": "here", "cpus": True}, "cpus"),
    ({"software": "lab", "computing": "here", "cpus": HUGE}, "cpus"),
    ({"software": "lab", "computing": "here", "memory_mb": -1}, "memory_mb"),
    ({"software": "lab", "computing": "here", "walltime_minutes": 2.5}, "walltime_minutes"),
    ({"software": "lab", "computing": "here", "partition": "gpu`id`"}, "partition"),
    ({"software": "lab", "computing": "here", "engine": "docker"}, "engine"),
    ({"software": "lab", "computing": "here", "owner": "bob"}, "owner"),
    ({"software": "lab", "computing": "here", "auth_token": "x"}, "auth_token"),
    ({"software": "lab", "computing": "here", "command": "sh -c id"}, "command"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TASKS)
def test_a_bad_task_is_422_naming_the_field_and_saves_nothing(
    unchanged: None, ada: TestClient, body: dict[str, Any], field: str
) -> None:
    assert field in error_of(ada.post(f"{API}/tasks", json=body), 422)["fields"]


def test_every_bad_task_field_is_named_at_once(unchanged: None, ada: TestClient) -> None:
    body = {"software": "lab", "computing": "here", "name": "../x", "cpus": "a", "gpus": "many"}
    assert set(error_of(ada.post(f"{API}/tasks", json=body), 422)["fields"]) == {"name", "cpus", "gpus"}


BAD_SOFTWARE = [
    ({"name": "../../etc", "image": "x/y"}, "name"),
    ({"name": "s", "image": "x/y; rm -rf /"}, "image"),
    ({"name": "s", "image": "x/y", "tag": "$(id)"}, "tag"),
    ({"name": "s", "image": "x/y", "interface_port": HUGE}, "interface_port"),
    ({"name": "s", "image": "x/y", "interface_port": "80"}, "interface_port"),
    ({"name": "s", "image": "x/y", "env": {"A": 1}}, "env"),
    ({"name": "s", "image": "x/y", "protocol": "ftp"}, "protocol"),
    ({"name": "s", "image": "x/y", "run_as": "root"}, "run_as"),
    ({"name": "s", "image": "x/y", "owner": "bob"}, "owner"),
    ({"name": "s", "image": "x/y", "id": "abc"}, "id"),
    ({"image": "x/y"}, "name"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SOFTWARE)
def test_bad_software_is_422_naming_the_field_and_saves_nothing(
    unchanged: None, ada: TestClient, body: dict[str, Any], field: str
) -> None:
    fields = error_of(ada.post(f"{API}/software", json=body), 422)["fields"]
    assert any(key == field or key.startswith(f"{field}.") or key.startswith(f"{field}[") for key in fields)


BAD_COMPUTING = [
    ({"name": "a/b", "engines": ["fake"]}, "name"),
    ({"name": "c", "engines": "fake"}, "engines"),
    ({"name": "c", "engines": ["fake && reboot"]}, "engines"),
    ({"name": "c", "engines": ["fake"], "kind": "mainframe"}, "kind"),
    ({"name": "c", "engines": ["fake"], "options": {"x": [1]}}, "options"),
    ({"name": "c", "engines": ["fake"], "secret": "x"}, "secret"),
]


@pytest.mark.parametrize(("body", "field"), BAD_COMPUTING)
def test_bad_computing_is_422_naming_the_field_and_saves_nothing(
    unchanged: None, admin: TestClient, body: dict[str, Any], field: str
) -> None:
    fields = error_of(admin.post(f"{API}/computing", json=body), 422)["fields"]
    assert any(key == field or key.startswith(f"{field}.") or key.startswith(f"{field}[") for key in fields)


@pytest.mark.parametrize(
    ("computing", "body", "field"),
    [
        ("here", {"account": "root; id"}, "account"),
        ("here", {"account": "../x"}, "account"),
        ("here", {"account": 5}, "account"),
        ("here", {"account": "ada", "owner": "bob"}, "owner"),
        ("nowhere", {"account": "ada"}, "computing"),
        ("%2E%2E", {"account": "ada"}, "computing"),
    ],
)
def test_a_bad_account_is_422_naming_the_field_and_saves_nothing(
    unchanged: None, ada: TestClient, computing: str, body: dict[str, Any], field: str
) -> None:
    assert field in error_of(ada.put(f"{API}/account/computing/{computing}", json=body), 422)["fields"]


@pytest.mark.parametrize("label", [5, "", " padded ", "x" * 101, "bell\a"])
def test_a_bad_token_label_is_422(kernel: Kernel, ada: TestClient, label: Any) -> None:
    assert "label" in error_of(ada.post(f"{API}/account/tokens", json={"label": label}), 422)["fields"]
    assert len(ada.get(f"{API}/account").json()["api_tokens"]) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"null",
        b'{"software": NaN}',
        b"[" * 50_000,
        b"\xff\xfe{",
        b"{" * 3,
    ],
)
def test_a_body_that_is_not_a_json_object_is_422(unchanged: None, ada: TestClient, raw: bytes) -> None:
    body = error_of(ada.post(f"{API}/tasks", content=raw, headers={"Content-Type": "application/json"}), 422)
    assert "" in body["fields"]


def test_a_body_over_the_limit_is_413(unchanged: None, ada: TestClient) -> None:
    raw = json.dumps({"software": "lab", "computing": "here", "name": "x" * MAX_BODY}).encode()
    answer = ada.post(f"{API}/tasks", content=raw, headers={"Content-Type": "application/json"})
    assert error_of(answer, 413)["code"] == "too_large"


def test_a_body_over_the_limit_without_a_length_is_413(unchanged: None, ada: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}'

    error_of(ada.post(f"{API}/software", content=chunks(), headers={"Content-Type": "application/json"}), 413)


@pytest.mark.parametrize(
    "media", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
)
def test_a_body_not_declared_json_is_415(unchanged: None, ada: TestClient, media: str) -> None:
    raw = json.dumps({"software": "lab", "computing": "here"}).encode()
    headers = {"Content-Type": media} if media else {}
    assert (
        error_of(ada.post(f"{API}/tasks", content=raw, headers=headers), 415)["code"]
        == "unsupported_media_type"
    )


def test_another_sites_page_cannot_sign_its_visitor_in(client: TestClient) -> None:
    # a form of enctype text/plain can carry JSON to another site without asking it first (no
    # CORS preflight): the sign-in refuses any body not declared application/json
    sign_up_user(client.app.state.kernel, "mallory", PASSWORD)  # type: ignore[attr-defined]
    forged = '{"username":"mallory","password":"' + PASSWORD + '","x":"="}'
    answer = client.post(
        f"{API}/session",
        content=forged.encode(),
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )
    assert answer.status_code == 415 and "set-cookie" not in answer.headers


@pytest.mark.parametrize("name", ["%2E%2E", "..%2F..%2Fetc", "%2e%2e%2fx", "a%00b", "x" * 5000])
def test_odd_names_in_paths_are_not_found(ada: TestClient, name: str) -> None:
    # names with an encoded "/" match no route: 404 as well (the router's own)
    assert ada.get(f"{API}/software/{name}").status_code == 404
    assert ada.get(f"{API}/computing/{name}").status_code == 404
    assert ada.get(f"{API}/tasks/{name}").status_code == 404


def test_a_huge_query_is_422(ada: TestClient) -> None:
    assert "q" in error_of(ada.get(f"{API}/software", params={"q": "x" * 1000}), 422)["fields"]


def test_task_times_are_iso_8601_as_stored(kernel: Kernel, ada: TestClient) -> None:
    task = start(ada)
    stored: Task = kernel.store.get_task(task["id"])
    assert task["created_at"] == stored.created_at.isoformat()


def test_task_json_is_the_clis_record_without_the_secret() -> None:
    task = Task(
        name="nb",
        owner="ada",
        software="lab",
        computing="here",
        options=TaskOptions(cpus=2, partition="gpu"),
        status=TaskStatus.FAILED,
        engine="fake",
        handle="rosetta-x",
        interface_host="node1",
        interface_port=8080,
        error="exited with code 1",
        exit_code=1,
        auth_token="s3cret",
    )
    expected = unstructure(task)
    del expected["auth_token"]
    assert task_json(task) == expected
    assert "s3cret" not in json.dumps(task_json(task))
