"""What the API added to :class:`Actions`: one record by name, the status filter, token ids."""

from __future__ import annotations

import pytest
from web_helpers import PASSWORD

from rosetta_auth_local import api_tokens, token_user
from rosetta_auth_local import sign_up as sign_up_user
from rosetta_core.errors import NotFoundError, ValidationError
from rosetta_core.kernel import Kernel
from rosetta_core.model import Computing, Software, TaskStatus
from rosetta_web.actions import Actions


@pytest.fixture
def ada(kernel: Kernel) -> Actions:
    sign_up_user(kernel, "root", PASSWORD)  # the first user is the admin
    return Actions(kernel, sign_up_user(kernel, "ada", PASSWORD))


def test_one_software_and_computing_are_found_when_visible(kernel: Kernel, ada: Actions) -> None:
    kernel.store.add(Software(name="bobs", image="b/b", owner="bob"))
    kernel.store.add(Computing(name="bobs-box", engines=("fake",), owner="bob"))
    assert ada.one_software("lab").name == "lab"
    assert ada.one_computing("here").name == "here"
    for name in ("bobs", "none"):
        with pytest.raises(NotFoundError):
            ada.one_software(name)
    for name in ("bobs-box", "none"):
        with pytest.raises(NotFoundError):
            ada.one_computing(name)


def test_tasks_filter_by_status(ada: Actions) -> None:
    task = ada.new_task({"software": "lab", "computing": "here"})
    assert [t.id for t in ada.tasks(status=TaskStatus.RUNNING)] == [task.id]
    assert ada.tasks(status=TaskStatus.STOPPED) == []
    ada.stop_task(task.id)
    assert [t.id for t in ada.tasks(status=TaskStatus.STOPPED)] == [task.id]


def test_a_new_task_names_every_bad_field_before_writing(kernel: Kernel, ada: Actions) -> None:
    with pytest.raises(ValidationError) as caught:
        ada.new_task({"software": "lab", "computing": "here", "name": "a b", "cpus": "2", "gpus": "1"})
    assert {p.split(":")[0] for p in caught.value.problems} == {"$.name", "$.cpus", "$.gpus"}
    assert kernel.store.list_tasks() == []


def test_a_new_api_token_comes_with_the_id_that_revokes_it(kernel: Kernel, ada: Actions) -> None:
    token_id, token = ada.new_api_token("laptop")
    assert token_user(kernel, token) == ada.user
    assert [t.id for t in api_tokens(kernel, ada.user)] == [token_id]
    ada.revoke_api_token(token_id)
    assert token_user(kernel, token) is None


def test_logs_keep_at_most_their_tail(ada: Actions, monkeypatch: pytest.MonkeyPatch) -> None:
    from rosetta_web.actions import MAX_LOG_CHARS

    task = ada.new_task({"software": "lab", "computing": "here"})
    huge = "x" * (MAX_LOG_CHARS + 10) + "END"  # one line without end, as a program may print
    monkeypatch.setattr(ada.kernel.orchestrator, "logs", lambda task_id, tail: huge)
    shown = ada.logs(task.id)
    assert len(shown) == MAX_LOG_CHARS and shown.endswith("END")
