"""The pages (``rosetta_web.pages``): each one renders, forms save what they should and nothing
else, bad input is shown next to its field, CSRF is checked, and users are kept apart."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient
from web_helpers import PASSWORD, sign_up

from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, ComputingAccount, Software, Storage, Task, TaskStatus, User
from rosetta_core.testing import FakeEngine
from rosetta_web.app import create_app
from rosetta_web.auth import SESSION_COOKIE

SIGNED_IN_PAGES = [
    ("/software", "Software"),
    ("/software/new", "Add software from a registry"),
    ("/computing", "Computing resources"),
    ("/storages", "Storages"),
    ("/tasks", "Tasks"),
    ("/tasks/new", "New task"),
    ("/account", "Account"),
]


def kernel_of(client: TestClient) -> Kernel:
    kernel: Kernel = client.app.state.kernel  # type: ignore[attr-defined]
    return kernel


def other_client(client: TestClient, name: str) -> tuple[TestClient, str]:
    """A second browser on the same site, signed in as ``name``."""
    second = TestClient(create_app(kernel_of(client)), follow_redirects=False)
    return second, sign_up(second, name)


def field_error(html: str, field: str) -> str:
    """The message shown next to the form field ``field`` (asserting the field points at it)."""
    found = re.search(rf'<p class="field-error" id="f-{re.escape(field)}-error">([^<]*)</p>', html)
    assert found, f"no message next to {field!r}"
    assert re.search(rf'aria-describedby="[^"]*f-{re.escape(field)}-error', html), f"{field!r} is not linked"

    return found.group(1)


def start_task(client: TestClient, csrf: str, **extra: str) -> Task:
    """Start a task of ``lab`` on ``here`` through the form; returns it as stored."""
    form = {"csrf": csrf, "software": "lab", "computing": "here", "understood": "1", **extra}
    answer = client.post("/tasks/new", data=form)
    assert answer.status_code == 303, answer.text
    return kernel_of(client).store.list_tasks()[0]


# ---------------------------------------------------------------- every page


def test_the_main_page_shows_the_site_text_and_how_to_start(client: TestClient) -> None:
    assert 'href="/sign-up"' in client.get("/").text
    sign_up(client, "ada")
    page = client.get("/")
    assert page.status_code == 200
    assert "Run software containers" in page.text and "Getting started" in page.text


@pytest.mark.parametrize(("path", "heading"), SIGNED_IN_PAGES)
def test_every_page_renders_for_a_signed_in_user(client: TestClient, path: str, heading: str) -> None:
    sign_up(client, "ada")
    page = client.get(path)
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in page.text
    assert 'aria-current="page"' in page.text or path == "/tasks/new"


@pytest.mark.parametrize(("path", "heading"), SIGNED_IN_PAGES)
def test_a_visitor_is_sent_to_sign_in_and_back(client: TestClient, path: str, heading: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next={path}"


def test_forms_carry_labels_for_every_input(client: TestClient) -> None:
    sign_up(client, "ada")
    for path in ("/software/new", "/tasks/new", "/computing/new", "/account"):
        html = client.get(path).text
        for field_id in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html):
            assert f'for="{field_id}"' in html, f"{path}: {field_id} has no label"


# ---------------------------------------------------------------- sign-up, sign-in, sign-out


def test_sign_up_makes_the_account_and_signs_in(client: TestClient) -> None:
    form = {"name": "ada", "password": PASSWORD, "password_again": PASSWORD}
    answer = client.post("/sign-up", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert SESSION_COOKIE in answer.cookies
    assert "ada" in client.get("/").text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "../etc"}, "name"),
        ({"name": "ada; rm -rf /"}, "name"),
        ({"name": "x" * 5000}, "name"),
        ({"password": "short", "password_again": "short"}, "password"),
        ({"password_again": "something else"}, "password_again"),
        ({"email": "not an address"}, "email"),
    ],
)
def test_sign_up_shows_bad_input_next_to_its_field(
    client: TestClient, form: dict[str, str], field: str
) -> None:
    data = {"name": "ada", "password": PASSWORD, "password_again": PASSWORD, **form}
    answer = client.post("/sign-up", data=data)
    assert answer.status_code == 422
    assert field_error(answer.text, field)
    assert SESSION_COOKIE not in answer.cookies
    assert client.get("/sign-in").status_code == 200
    assert not _users(client)


def _users(client: TestClient) -> list[str]:
    return [u.name for u in kernel_of(client).store.all(User)]


def test_sign_up_refuses_a_taken_name(client: TestClient) -> None:
    form = {"name": "ada", "password": PASSWORD, "password_again": PASSWORD}
    client.post("/sign-up", data=form)
    client.cookies.clear()
    answer = client.post("/sign-up", data=form)
    assert answer.status_code == 409 and "taken" in field_error(answer.text, "name")


def test_sign_up_from_another_site_is_refused(client: TestClient) -> None:
    form = {"name": "ada", "password": PASSWORD, "password_again": PASSWORD}
    answer = client.post("/sign-up", data=form, headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403 and not _users(client)


def test_sign_up_from_the_public_url_is_accepted(kernel: Kernel) -> None:
    # behind a TLS front the Host header may be the front's upstream, not what browsers see
    from rosetta_web.options import WebOptions

    app = create_app(kernel, WebOptions(public_url="https://rosetta.example.org"))
    with TestClient(app, follow_redirects=False) as front:
        form = {"name": "ada", "password": PASSWORD, "password_again": PASSWORD}
        answer = front.post("/sign-up", data=form, headers={"Origin": "https://rosetta.example.org"})
        assert answer.status_code == 303 and _users(front) == ["ada"]


def test_sign_in_goes_back_to_the_page_asked_for(client: TestClient) -> None:
    sign_up(client, "ada")
    client.cookies.clear()
    answer = client.post("/sign-in", data={"name": "ada", "password": PASSWORD, "next": "/tasks"})
    assert answer.status_code == 303 and answer.headers["location"] == "/tasks"
    assert client.get("/tasks").status_code == 200


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_sends_elsewhere(client: TestClient, next_path: str) -> None:
    sign_up(client, "ada")
    client.cookies.clear()
    answer = client.post("/sign-in", data={"name": "ada", "password": PASSWORD, "next": next_path})
    assert answer.headers["location"] == "/"


def test_sign_in_says_when_the_password_is_wrong_and_then_rate_limits(client: TestClient) -> None:
    sign_up(client, "ada")
    client.cookies.clear()
    answer = client.post("/sign-in", data={"name": "ada", "password": "wrong password"})
    assert answer.status_code == 401 and "Wrong user name or password" in answer.text
    for _ in range(10):
        answer = client.post("/sign-in", data={"name": "ada", "password": "wrong password"})
    assert answer.status_code == 429
    assert "Too many failed attempts" in answer.text and int(answer.headers["Retry-After"]) >= 1


def test_sign_out_ends_the_session_and_needs_the_csrf_token(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    assert client.post("/sign-out").status_code == 403
    assert client.get("/tasks").status_code == 200
    answer = client.post("/sign-out", data={"csrf": csrf})
    assert answer.status_code == 303
    assert client.get("/tasks").status_code == 303


# ---------------------------------------------------------------- software


def test_software_cards_search_filter_and_play(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    client.post("/software/new", data={"csrf": csrf, "name": "viewer", "image": "org/fits-viewer"})
    page = client.get("/software").text
    assert "lab" in page and "viewer" in page and "A notebook" in page
    assert 'href="/tasks/new?software=lab"' in page and "jupyter/lab" in page and "8888" in page
    assert "viewer" not in client.get("/software?q=notebook").text
    assert "viewer" in client.get("/software?q=FITS").text
    admin_only = client.get("/software?show=public").text
    assert "lab" in admin_only


def test_a_users_software_is_theirs(client: TestClient) -> None:
    sign_up(client, "admin")  # the first user is the admin
    bob, csrf = other_client(client, "bob")
    answer = bob.post("/software/new", data={"csrf": csrf, "name": "mine", "image": "bob/tool"})
    assert answer.status_code == 303 and answer.headers["location"] == "/software?added=mine"
    assert kernel_of(client).store.get(Software, "mine").owner == "bob"
    assert "mine" in bob.get("/software?show=mine").text
    carol, _ = other_client(client, "carol")
    assert "bob/tool" not in carol.get("/software").text


def test_adding_software_with_every_field(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    form = {
        "csrf": csrf,
        "name": "jupyter",
        "description": "A notebook",
        "registry": "localhost",
        "image": "rosetta-jupyter",
        "tag": "latest",
        "interface_port": "8888",
        "protocol": "http",
        "env": "A=1\n\nB = two words\n",
        "auth": "password",
        "arch": "arm64",
        "keeps_prefix": "1",
    }
    assert client.post("/software/new", data=form).status_code == 303
    saved = kernel_of(client).store.get(Software, "jupyter")
    assert saved.image_ref == "localhost/rosetta-jupyter:latest" and saved.interface_port == 8888
    assert saved.env == {"A": "1", "B": "two words"} and saved.keeps_prefix and saved.arch == "arm64"
    assert saved.auth.value == "password"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "../../etc/passwd"),
        ("name", "a;rm -rf /"),
        ("name", "n" * 100_00),
        ("image", "image`reboot`"),
        ("image", "../x"),
        ("tag", "$(reboot)"),
        ("registry", "host name|cat"),
        ("interface_port", "eighty"),
        ("interface_port", "99999"),
        ("interface_port", "9" * 40),
        ("interface_port", "8888; ls"),
        ("protocol", "gopher"),
        ("auth", "root"),
        ("env", "no equals sign"),
        ("env", "BAD KEY=1"),
        ("arch", "amd64 && ls"),
        ("description", "x" * 5000),
    ],
)
def test_the_software_form_shows_each_bad_field_and_saves_nothing(
    client: TestClient, field: str, value: str
) -> None:
    csrf = sign_up(client, "ada")
    form = {"csrf": csrf, "name": "tool", "image": "org/tool", "interface_port": "80", field: value}
    answer = client.post("/software/new", data=form)
    assert answer.status_code == 422
    assert field_error(answer.text, field)
    assert [s.name for s in kernel_of(client).store.all(Software)] == ["lab"]


def test_the_software_form_shows_every_bad_field_at_once(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    form = {"csrf": csrf, "name": "../x", "image": "A;B", "interface_port": "x", "protocol": "ftp"}
    answer = client.post("/software/new", data=form)
    for field in ("name", "image", "interface_port", "protocol"):
        assert field_error(answer.text, field)
    assert 'value="../x"' in answer.text  # what was typed is kept


def test_a_taken_software_name_is_said_next_to_the_name(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    answer = client.post("/software/new", data={"csrf": csrf, "name": "lab", "image": "other/lab"})
    assert answer.status_code == 409 and "taken" in field_error(answer.text, "name")


# ---------------------------------------------------------------- computing and storages


def test_only_admins_add_computing(client: TestClient) -> None:
    admin_csrf = sign_up(client, "admin")
    bob, csrf = other_client(client, "bob")
    assert 'href="/computing/new"' not in bob.get("/computing").text
    assert bob.get("/computing/new").status_code == 403
    form = {"csrf": csrf, "name": "cluster", "engines": "podman"}
    answer = bob.post("/computing/new", data=form)
    assert answer.status_code == 403 and "only admins" in answer.text
    assert [c.name for c in kernel_of(client).store.all(Computing)] == ["here"]
    assert 'href="/computing/new"' in client.get("/computing").text
    form = {
        "csrf": admin_csrf,
        "name": "cluster",
        "kind": "cluster",
        "engines": "podman, docker",
        "workload_manager": "none",
        "options": "tunnel=proxy\nslots=4\nshared=true",
    }
    assert client.post("/computing/new", data=form).status_code == 303
    saved = kernel_of(client).store.get(Computing, "cluster")
    assert saved.engines == ("podman", "docker") and saved.options == {
        "tunnel": "proxy",
        "slots": 4,
        "shared": True,
    }
    assert "cluster" in bob.get("/computing").text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "../here"),
        ("engines", ""),
        ("engines", "podman;ls"),
        ("kind", "mainframe"),
        ("executor", "ssh && reboot"),
        ("options", "=nokey"),
    ],
)
def test_the_computing_form_shows_each_bad_field(client: TestClient, field: str, value: str) -> None:
    csrf = sign_up(client, "admin")
    form = {"csrf": csrf, "name": "cluster", "engines": "podman", field: value}
    answer = client.post("/computing/new", data=form)
    assert answer.status_code == 422 and field_error(answer.text, field)
    assert [c.name for c in kernel_of(client).store.all(Computing)] == ["here"]


def test_storages_are_listed(client: TestClient) -> None:
    sign_up(client, "ada")
    kernel_of(client).store.add(Storage(name="home", base_path="/data/$USER", bind_path="/storages/home"))
    page = client.get("/storages").text
    assert "home" in page and "/storages/home" in page


# ---------------------------------------------------------------- tasks


def test_the_new_task_form_preselects_the_software_and_warns(client: TestClient) -> None:
    sign_up(client, "ada")
    page = client.get("/tasks/new?software=lab").text
    assert '<option value="lab" selected>' in page
    assert "are lost when the task stops" in page and 'name="understood"' in page


def test_starting_a_task(client: TestClient, fake_engine: FakeEngine) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf, name="my-lab", cpus="2", memory_mb="2048", engine="fake")
    assert task.name == "my-lab" and task.owner == "ada" and task.status is TaskStatus.RUNNING
    assert task.options.cpus == 2 and task.options.memory_mb == 2048
    assert fake_engine.starts == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "../../x"),
        ("name", "a b; rm -rf /"),
        ("cpus", "two"),
        ("cpus", "0"),
        ("cpus", "9" * 30),
        ("memory_mb", "1e9"),
        ("gpus", "-1"),
        ("walltime_minutes", "99999999"),
        ("partition", "debug;ls"),
        ("engine", "docker"),
        ("engine", "$(id)"),
        ("software", "nothing-like-it"),
        ("software", ""),
        ("computing", "../here"),
        ("understood", None),
    ],
)
def test_the_task_form_shows_each_bad_field_and_starts_nothing(
    client: TestClient, fake_engine: FakeEngine, field: str, value: str | None
) -> None:
    csrf = sign_up(client, "ada")
    form: dict[str, str] = {"csrf": csrf, "software": "lab", "computing": "here", "understood": "1"}
    if value is None:
        del form[field]
    else:
        form[field] = value
    answer = client.post("/tasks/new", data=form)
    assert answer.status_code == 422, answer.text
    assert field_error(answer.text, field)
    assert kernel_of(client).store.list_tasks() == [] and fake_engine.starts == 0


def test_the_tasks_page_and_its_status_endpoint(client: TestClient, fake_engine: FakeEngine) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    page = client.get("/tasks").text
    assert f'id="task-{task.id}"' in page and 'src="/static/tasks.js"' in page
    assert f'href="/tasks/{task.id}/connect"' in page and f'action="/tasks/{task.id}/stop"' in page
    body = client.get("/tasks/status.json").json()
    assert [(t["id"], t["status"], t["running"]) for t in body["tasks"]] == [(task.id, "running", True)]
    client.cookies.clear()
    assert client.get("/tasks/status.json").status_code == 401


def test_the_status_endpoint_follows_the_task(client: TestClient, fake_engine: FakeEngine) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    assert task.handle is not None
    fake_engine.containers[task.handle].state = "exited"
    kernel_of(client).orchestrator.reconcile()
    (seen,) = client.get("/tasks/status.json").json()["tasks"]
    assert seen["ended"] and not seen["running"] and seen["status"] != "running"


def test_stopping_a_task(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    assert client.post(f"/tasks/{task.id}/stop").status_code == 403
    assert kernel_of(client).store.get_task(task.id).status is TaskStatus.RUNNING
    answer = client.post(f"/tasks/{task.id}/stop", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/tasks"
    assert kernel_of(client).store.get_task(task.id).status is TaskStatus.STOPPED


def test_connecting_to_a_task(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    answer = client.get(f"/tasks/{task.id}/connect")
    # the fake engine's task has no web tunnel here: its address is shown
    assert answer.status_code in (200, 303)
    client.post(f"/tasks/{task.id}/stop", data={"csrf": csrf})
    answer = client.get(f"/tasks/{task.id}/connect")
    assert answer.status_code == 409 and "only a running task" in answer.text


def test_connecting_goes_to_the_tunnels_link(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    link = "http://127.0.0.1:8765/t/x/_rosetta/open?token=abc"
    monkeypatch.setattr("rosetta_web.actions.Actions.connect", lambda self, task_id: link)
    answer = client.get(f"/tasks/{task.id}/connect")
    assert answer.status_code == 303 and answer.headers["location"] == link
    assert answer.headers["cache-control"] == "no-store"


def test_the_logs_page_and_its_live_tail(client: TestClient, fake_engine: FakeEngine) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    assert task.handle is not None
    fake_engine.containers[task.handle].output = "first line\nsecond <line>\n"
    page = client.get(f"/tasks/{task.id}/logs").text
    assert "second &lt;line&gt;" in page and 'src="/static/logs.js"' in page
    body = client.get(f"/tasks/{task.id}/logs.json").json()
    assert body == {"status": "running", "logs": "first line\nsecond <line>"}


def test_users_cannot_see_or_touch_each_others_tasks(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    task = start_task(client, csrf)
    bob, bob_csrf = other_client(client, "bob")
    assert task.id not in bob.get("/tasks").text
    assert bob.get("/tasks/status.json").json() == {"tasks": []}
    for path in (f"/tasks/{task.id}/logs", f"/tasks/{task.id}/connect"):
        answer = bob.get(path)
        assert answer.status_code == 404 and "<h1>404</h1>" in answer.text
    assert bob.get(f"/tasks/{task.id}/logs.json").status_code == 404
    assert bob.post(f"/tasks/{task.id}/stop", data={"csrf": bob_csrf}).status_code == 404
    assert kernel_of(client).store.get_task(task.id).status is TaskStatus.RUNNING
    # ada's CSRF token is no use in bob's session
    assert bob.post(f"/tasks/{task.id}/stop", data={"csrf": csrf}).status_code == 403


@pytest.mark.parametrize("task_id", ["nothing", "../../etc/passwd", "x" * 300])
def test_unknown_tasks_are_not_found(client: TestClient, task_id: str) -> None:
    sign_up(client, "ada")
    assert client.get(f"/tasks/{task_id}/logs").status_code == 404


# ---------------------------------------------------------------- account


def test_the_account_page_shows_the_ssh_key_and_accounts(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    page = client.get("/account").text
    assert "Public SSH key" in page and 'name="computing" value="here"' in page
    answer = client.post(
        "/account/computing-user", data={"csrf": csrf, "computing": "here", "account": "ada_x"}
    )
    assert answer.status_code == 303
    assert kernel_of(client).store.accounts("ada") == [
        ComputingAccount(owner="ada", computing="here", account="ada_x")
    ]
    assert 'value="ada_x"' in client.get("/account").text


@pytest.mark.parametrize(
    ("computing", "account"),
    [("here", "root;rm -rf /"), ("here", "../x"), ("here", "a" * 200), ("../x", "ada")],
)
def test_a_bad_account_name_is_shown_next_to_it(client: TestClient, computing: str, account: str) -> None:
    csrf = sign_up(client, "ada")
    answer = client.post(
        "/account/computing-user", data={"csrf": csrf, "computing": computing, "account": account}
    )
    assert answer.status_code == 422
    if computing == "here":
        assert field_error(answer.text, "account-1")
    assert kernel_of(client).store.accounts("ada") == []


def test_api_tokens_are_shown_once_and_revoked(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    answer = client.post("/account/tokens", data={"csrf": csrf, "label": "laptop"})
    assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    token = re.search(r'id="new-token" tabindex="0">(rst_[^<]+)<', answer.text)
    assert token is not None
    api = TestClient(create_app(kernel_of(client)))
    assert api.get("/api/v1/health", headers={"Authorization": f"Bearer {token.group(1)}"}).status_code == 200
    page = client.get("/account").text
    assert "laptop" in page and token.group(1) not in page
    token_id = re.search(r'action="/account/tokens/([^/]+)/revoke"', page)
    assert token_id is not None
    bob, bob_csrf = other_client(client, "bob")
    assert bob.post(f"/account/tokens/{token_id.group(1)}/revoke", data={"csrf": bob_csrf}).status_code == 404
    answer = client.post(f"/account/tokens/{token_id.group(1)}/revoke", data={"csrf": csrf})
    assert answer.status_code == 303 and "laptop" not in client.get("/account").text


@pytest.mark.parametrize("label", ["", " padded ", "x" * 500, "tab\there"])
def test_a_bad_token_label_is_shown_next_to_it(client: TestClient, label: str) -> None:
    csrf = sign_up(client, "ada")
    answer = client.post("/account/tokens", data={"csrf": csrf, "label": label})
    assert answer.status_code == 422 and field_error(answer.text, "label")
    assert 'id="new-token"' not in answer.text


def test_changing_the_password(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    new = "another long password"
    wrong = {"csrf": csrf, "old_password": "not it at all", "new_password": new, "new_password_again": new}
    answer = client.post("/account/password", data=wrong)
    assert answer.status_code == 401 and field_error(answer.text, "old_password")
    differ = {"csrf": csrf, "old_password": PASSWORD, "new_password": new, "new_password_again": "other"}
    assert field_error(client.post("/account/password", data=differ).text, "new_password_again")
    short = {"csrf": csrf, "old_password": PASSWORD, "new_password": "short", "new_password_again": "short"}
    assert field_error(client.post("/account/password", data=short).text, "new_password")
    right = {"csrf": csrf, "old_password": PASSWORD, "new_password": new, "new_password_again": new}
    answer = client.post("/account/password", data=right)
    assert answer.status_code == 303 and client.get("/tasks").status_code == 200
    client.cookies.clear()
    assert client.post("/sign-in", data={"name": "ada", "password": new}).status_code == 303


# ---------------------------------------------------------------- every form: CSRF and size


POSTS = [
    ("/software/new", {"name": "tool", "image": "org/tool"}),
    ("/computing/new", {"name": "cluster", "engines": "podman"}),
    ("/tasks/new", {"software": "lab", "computing": "here", "understood": "1"}),
    ("/account/computing-user", {"computing": "here", "account": "ada"}),
    ("/account/tokens", {"label": "laptop"}),
    (
        "/account/password",
        {"old_password": PASSWORD, "new_password": "x" * 12, "new_password_again": "x" * 12},
    ),
    ("/sign-out", {}),
]


def _saved(kernel: Kernel) -> tuple[int, ...]:
    store = kernel.store
    return (
        len(store.all(Software)),
        len(store.all(Computing)),
        len(store.list_tasks()),
        len(store.accounts("ada")),
    )


@pytest.mark.parametrize(("path", "form"), POSTS)
@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
def test_every_form_needs_its_csrf_token(
    client: TestClient, path: str, form: dict[str, str], csrf: str | None
) -> None:
    sign_up(client, "ada")
    before = _saved(kernel_of(client))
    data = dict(form) if csrf is None else {**form, "csrf": csrf}
    answer = client.post(path, data=data)
    assert answer.status_code == 403 and "<h1>403</h1>" in answer.text
    assert _saved(kernel_of(client)) == before
    assert "laptop" not in client.get("/account").text
    assert client.get("/tasks").status_code == 200  # still signed in: the password did not change


def test_a_post_without_a_session_is_refused(client: TestClient) -> None:
    answer = client.post("/software/new", data={"name": "tool", "image": "org/tool"})
    assert answer.status_code == 401 and len(kernel_of(client).store.all(Software)) == 1


def test_a_huge_form_is_refused(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    answer = client.post("/software/new", data={"csrf": csrf, "name": "tool", "description": "x" * 200_000})
    assert answer.status_code == 413
    assert len(kernel_of(client).store.all(Software)) == 1


def test_a_body_that_is_not_a_form_is_refused(client: TestClient) -> None:
    csrf = sign_up(client, "ada")
    answer = client.post("/software/new", json={"csrf": csrf, "name": "tool", "image": "org/tool"})
    assert answer.status_code == 415
    assert len(kernel_of(client).store.all(Software)) == 1


def test_the_tasks_page_shows_a_hundred_at_a_time_newest_first(client: TestClient, kernel: Kernel) -> None:
    sign_up(client, "ada")
    kernel.store.add_tasks(
        [Task(name=f"t{i:03d}", owner="ada", software="lab", computing="here") for i in range(150)]
    )
    first = client.get("/tasks").text
    assert "t149" in first and "t050" in first and "t049" not in first
    assert 'href="/tasks?page=2">Older tasks' in first and "Newer tasks" not in first
    second = client.get("/tasks?page=2").text
    assert "t049" in second and "t000" in second and "t050" not in second
    assert 'href="/tasks?page=1">Newer tasks' in second and "Older tasks" not in second
    assert "t149" in client.get("/tasks?page=../1").text  # not a page number: the first page
    assert "t149" in client.get("/tasks?page=%C2%B2").text  # a digit, but not an ASCII one
    assert client.get("/tasks/status.json?page=%C2%B2").status_code == 200
    statuses = client.get("/tasks/status.json?page=2").json()["tasks"]
    assert len(statuses) == 50


@pytest.mark.parametrize("path", ["/tasks", "/account"])
def test_pages_showing_secrets_are_not_cached(client: TestClient, path: str) -> None:
    sign_up(client, "ada")
    assert client.get(path).headers["cache-control"] == "no-store"
