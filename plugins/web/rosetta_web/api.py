"""The REST API under ``/api/v1/``: JSON in and out, the errors of :mod:`rosetta_web.errors`.

Every endpoint but ``health``, ``POST /session`` (sign-in), ``POST /users`` (sign-up) and
``openapi.json`` needs an identity (:func:`rosetta_web.auth.require`): an API token, or the
session cookie with the ``X-CSRF-Token`` header on state-changing requests. Every endpoint is a
plain function: Starlette runs it on its thread pool, because the kernel blocks.

Bodies are JSON objects of at most :data:`MAX_BODY` bytes; anything else is refused before any
work (413 when too large, 422 otherwise). Records go out as :func:`task_json` and its siblings
make them: everything the user may see and no secret (a task's ``auth_token`` never; an API
token only in the answer that made it). :data:`ENDPOINTS` is the route table the OpenAPI
document (:mod:`rosetta_web.openapi`) is checked against.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rosetta_auth_local import ApiToken, end_session, sign_in, sign_up, start_session
from rosetta_core.errors import ValidationError
from rosetta_core.model import (
    Computing,
    ComputingAccount,
    Software,
    Storage,
    Task,
    TaskStatus,
    User,
)
from rosetta_core.serde import unstructure
from rosetta_web.actions import MAX_LOG_LINES, Actions
from rosetta_web.auth import (
    clear_session_cookie,
    kernel_of,
    options_of,
    require,
    set_session_cookie,
)
from rosetta_web.bodies import read_body
from rosetta_web.errors import UnsupportedMedia

MAX_BODY = 64 * 1024
MAX_QUERY = 200
DEFAULT_TAIL = 200

# ---------------------------------------------------------------- records as JSON


def task_json(task: Task) -> dict[str, Any]:
    """A task as the API shows it: as the CLI's listings (``unstructure``), without
    ``auth_token``; timestamps in ISO 8601."""
    data: dict[str, Any] = unstructure(task)
    data.pop("auth_token", None)
    return data


def user_json(user: User) -> dict[str, Any]:
    """``{id, name, email, is_admin, created_at}``."""
    data: dict[str, Any] = unstructure(user)
    return data


def software_json(software: Software, user: User) -> dict[str, Any]:
    """A software; its ``env`` (which may hold licence keys and the like) only for its owner
    and admins."""
    data: dict[str, Any] = unstructure(software)
    if not (user.is_admin or software.owner == user.name):
        data.pop("env", None)
    return data


def computing_json(computing: Computing) -> dict[str, Any]:
    data: dict[str, Any] = unstructure(computing)
    return data


def storage_json(storage: Storage) -> dict[str, Any]:
    data: dict[str, Any] = unstructure(storage)
    return data


def account_json(account: ComputingAccount) -> dict[str, Any]:
    """``{computing, account}`` (the owner is the caller)."""
    return {"computing": account.computing, "account": account.account}


def token_json(token: ApiToken) -> dict[str, Any]:
    """What is shown of an API token: never the token."""
    data: dict[str, Any] = unstructure(token)
    return data


# ---------------------------------------------------------------- input


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_body(request: Request, what: str) -> dict[str, Any]:
    """The request's body as a JSON object. Raises ``TooLarge`` over :data:`MAX_BODY` bytes and
    ``ValidationError`` (field ``""``) for anything that is not a JSON object. Call it from an
    endpoint's worker thread. A body not declared ``application/json`` is refused
    (:class:`UnsupportedMedia`): a browser sends such a body to another site only after asking
    it (CORS), so no other site's page can post JSON here with the user's cookie."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMedia("the body must be JSON, sent as Content-Type: application/json")
    raw = read_body(request, MAX_BODY)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ValidationError(what, ["$: the body must be a JSON object"]) from None
    if not isinstance(data, dict):
        raise ValidationError(what, [f"$: the body must be a JSON object, not {type(data).__name__}"])
    return data


def text_fields(
    data: Mapping[str, Any], what: str, required: Iterable[str], optional: Iterable[str] = ()
) -> dict[str, str]:
    """``data``'s fields, all strings: ``required`` ones present, no field outside ``required``
    and ``optional``. Raises ``ValidationError`` naming every bad field."""
    required, optional = tuple(required), tuple(optional)
    problems = [f"$.{key}: unknown field" for key in sorted(set(data) - {*required, *optional})]
    problems += [f"$.{key}: is required" for key in required if key not in data]
    problems += [
        f"$.{key}: must be a string, not {type(value).__name__}"
        for key, value in data.items()
        if key in (*required, *optional) and not isinstance(value, str)
    ]
    if problems:
        raise ValidationError(what, problems)
    return dict(data)


def _query_text(request: Request, key: str) -> str:
    value = request.query_params.get(key, "")
    if len(value) > MAX_QUERY:
        raise ValidationError("query", [f"$.{key}: must be at most {MAX_QUERY} characters"])
    return value


def _query_tail(request: Request) -> int:
    value = request.query_params.get("tail")
    if value is None:
        return DEFAULT_TAIL
    tail = int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else 0
    if not 1 <= tail <= MAX_LOG_LINES:
        raise ValidationError("query", [f"$.tail: must be a whole number from 1 to {MAX_LOG_LINES}"])
    return tail


def _query_status(request: Request) -> TaskStatus | None:
    value = _query_text(request, "status")
    if not value:
        return None
    try:
        return TaskStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in TaskStatus)
        raise ValidationError("query", [f"$.status: must be one of {choices}"]) from None


def _renamed(exc: ValidationError, old: str, new: str) -> ValidationError:
    """``exc`` with the field ``old`` called ``new``, as the API's callers name it."""
    prefix = f"$.{old}:"
    problems = [f"$.{new}:{p[len(prefix) :]}" if p.startswith(prefix) else p for p in exc.problems]
    return ValidationError(exc.what, problems)


# ---------------------------------------------------------------- output


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _actions(request: Request) -> Actions:
    return Actions(kernel_of(request), require(request).user)


# ---------------------------------------------------------------- endpoints: the front itself


def health(request: Request) -> JSONResponse:
    """``GET /api/v1/health``: the front answers (no sign-in needed)."""
    return JSONResponse({"status": "ok"})


def openapi_document(request: Request) -> JSONResponse:
    """``GET /api/v1/openapi.json``: the API's OpenAPI document (no sign-in needed)."""
    from rosetta_web.openapi import document  # the document names this module's table

    return JSONResponse(document())


# ---------------------------------------------------------------- sessions and users


def create_session(request: Request) -> JSONResponse:
    """``POST /session`` ``{username, password}``: sign in; sets the session cookie and answers
    ``{user, csrf}`` (the CSRF token state-changing requests with the cookie carry)."""
    kernel = kernel_of(request)
    fields = text_fields(json_body(request, "sign-in"), "sign-in", ("username", "password"))
    client = request.client.host if request.client else ""
    user = sign_in(kernel, fields["username"], fields["password"], client=client)
    session, csrf = start_session(kernel, user)
    response = _json({"user": user_json(user), "csrf": csrf})
    set_session_cookie(response, session, secure=options_of(request).secure_cookies)
    return response


def delete_session(request: Request) -> Response:
    """``DELETE /session``: sign out (ends the cookie's session; an API token stays valid)."""
    identity = require(request)
    if identity.session is not None:
        end_session(kernel_of(request), identity.session)
    response = Response(status_code=204)
    clear_session_cookie(response, secure=options_of(request).secure_cookies)
    return response


def create_user(request: Request) -> JSONResponse:
    """``POST /users`` ``{username, password, email?, invitation?}``: sign up (201 ``{user}``);
    the caller then signs in."""
    data = text_fields(
        json_body(request, "account"), "account", ("username", "password"), ("email", "invitation")
    )
    try:
        user = sign_up(
            kernel_of(request),
            data["username"],
            data["password"],
            email=data.get("email", ""),
            invitation=data.get("invitation"),
            client=request.client.host if request.client else "",
        )
    except ValidationError as exc:
        raise _renamed(exc, "name", "username") from None
    return _json({"user": user_json(user)}, 201)


# ---------------------------------------------------------------- software, computing, storages


def list_software(request: Request) -> JSONResponse:
    """``GET /software?q=``: the software the user may run, by name."""
    actions = _actions(request)
    found = actions.software(_query_text(request, "q"))
    return _json({"software": [software_json(s, actions.user) for s in found]})


def create_software(request: Request) -> JSONResponse:
    """``POST /software``: add a software (the user's; an admin's is public); 201."""
    actions = _actions(request)
    software = actions.add_software(json_body(request, "software"))
    return _json(software_json(software, actions.user), 201)


def show_software(request: Request) -> JSONResponse:
    """``GET /software/{name}``: one software the user may run (404 otherwise)."""
    actions = _actions(request)
    return _json(software_json(actions.one_software(request.path_params["name"]), actions.user))


def list_computing(request: Request) -> JSONResponse:
    """``GET /computing``: the computing resources the user may use."""
    return _json({"computing": [computing_json(c) for c in _actions(request).computing()]})


def create_computing(request: Request) -> JSONResponse:
    """``POST /computing``: add a computing resource; admins only (403); 201."""
    actions = _actions(request)
    return _json(computing_json(actions.add_computing(json_body(request, "computing resource"))), 201)


def show_computing(request: Request) -> JSONResponse:
    """``GET /computing/{name}``: one computing resource the user may use (404 otherwise)."""
    return _json(computing_json(_actions(request).one_computing(request.path_params["name"])))


def list_storages(request: Request) -> JSONResponse:
    """``GET /storages``: the storages the user may see."""
    return _json({"storages": [storage_json(s) for s in _actions(request).storages()]})


# ---------------------------------------------------------------- tasks


def list_tasks(request: Request) -> JSONResponse:
    """``GET /tasks?status=``: the user's own tasks, newest first."""
    actions = _actions(request)
    return _json({"tasks": [task_json(t) for t in actions.tasks(status=_query_status(request))]})


def create_task(request: Request) -> JSONResponse:
    """``POST /tasks``: create and start a task; 201 with the task as stored after the start."""
    actions = _actions(request)
    return _json(task_json(actions.new_task(json_body(request, "task"))), 201)


def show_task(request: Request) -> JSONResponse:
    """``GET /tasks/{task_id}``: the user's task; another user's is 404 as a missing one."""
    return _json(task_json(_actions(request).task(request.path_params["task_id"])))


def stop_task(request: Request) -> JSONResponse:
    """``POST /tasks/{task_id}/stop``: stop the user's task; answers it after the stop."""
    return _json(task_json(_actions(request).stop_task(request.path_params["task_id"])))


def task_logs(request: Request) -> JSONResponse:
    """``GET /tasks/{task_id}/logs?tail=``: ``{"logs": "..."}``, the last ``tail`` lines."""
    actions = _actions(request)
    return _json({"logs": actions.logs(request.path_params["task_id"], tail=_query_tail(request))})


def connect_task(request: Request) -> JSONResponse:
    """``POST /tasks/{task_id}/connect``: ``{"url": ...}`` where the browser opens the task's
    interface (409 when the task is not running)."""
    return _json({"url": _actions(request).connect(request.path_params["task_id"])})


# ---------------------------------------------------------------- account


def show_account(request: Request) -> JSONResponse:
    """``GET /account``: the user, their SSH public keys, computing accounts and API tokens."""
    actions = _actions(request)
    return _json(
        {
            "user": user_json(actions.user),
            "public_keys": actions.public_keys(),
            "accounts": [account_json(a) for a in actions.accounts()],
            "api_tokens": [token_json(t) for t in actions.api_tokens()],
        }
    )


def set_account(request: Request) -> JSONResponse:
    """``PUT /account/computing/{computing}`` ``{account}``: the user's account name there."""
    actions = _actions(request)
    fields = text_fields(json_body(request, "account"), "account", ("account",))
    record = actions.set_account(request.path_params["computing"], fields["account"])
    return _json(account_json(record))


def create_token(request: Request) -> JSONResponse:
    """``POST /account/tokens`` ``{label}``: 201 ``{id, label, token}``; the token is shown
    only here."""
    actions = _actions(request)
    fields = text_fields(json_body(request, "API token"), "API token", ("label",))
    token_id, token = actions.new_api_token(fields["label"])
    response = _json({"id": token_id, "label": fields["label"], "token": token}, 201)
    response.headers["Cache-Control"] = "no-store"  # the token, shown once
    return response


def delete_token(request: Request) -> Response:
    """``DELETE /account/tokens/{token_id}``: revoke one of the user's tokens (204; 404 for
    anything else)."""
    _actions(request).revoke_api_token(request.path_params["token_id"])
    return Response(status_code=204)


# ---------------------------------------------------------------- routes

Endpoint = Callable[[Request], Response]

#: (method, path relative to ``/api/v1``, endpoint): what :func:`routes` serves and the OpenAPI
#: document describes
ENDPOINTS: tuple[tuple[str, str, Endpoint], ...] = (
    ("GET", "/health", health),
    ("GET", "/openapi.json", openapi_document),
    ("POST", "/session", create_session),
    ("DELETE", "/session", delete_session),
    ("POST", "/users", create_user),
    ("GET", "/software", list_software),
    ("POST", "/software", create_software),
    ("GET", "/software/{name}", show_software),
    ("GET", "/computing", list_computing),
    ("POST", "/computing", create_computing),
    ("GET", "/computing/{name}", show_computing),
    ("GET", "/storages", list_storages),
    ("GET", "/tasks", list_tasks),
    ("POST", "/tasks", create_task),
    ("GET", "/tasks/{task_id}", show_task),
    ("POST", "/tasks/{task_id}/stop", stop_task),
    ("GET", "/tasks/{task_id}/logs", task_logs),
    ("POST", "/tasks/{task_id}/connect", connect_task),
    ("GET", "/account", show_account),
    ("PUT", "/account/computing/{computing}", set_account),
    ("POST", "/account/tokens", create_token),
    ("DELETE", "/account/tokens/{token_id}", delete_token),
)


def routes() -> list[BaseRoute]:
    """The API's routes, relative to ``/api/v1``: one per entry of :data:`ENDPOINTS` (a path
    with two methods has two routes; the router picks by method and answers 405 for others)."""
    return [
        Route(path, endpoint, methods=[method], name=f"api_{endpoint.__name__}")
        for method, path, endpoint in ENDPOINTS
    ]
