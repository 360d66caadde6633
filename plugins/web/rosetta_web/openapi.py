"""The OpenAPI 3.0 document of the REST API, written as data: :func:`document`.

Each operation is keyed by ``(method, path)`` exactly as :data:`rosetta_web.api.ENDPOINTS` routes
it; the tests check both ways that every route is described and every description is routed.
Schemas of records list what :mod:`rosetta_web.api` sends; responses may gain fields later, so
they do not forbid extra ones. Request bodies forbid unknown fields, as the server does.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from rosetta_core.model import AuthConvention, ComputingKind, InterfaceProtocol, TaskStatus
from rosetta_core.validators import ACCOUNT_RE, DIGEST_RE, IMAGE_RE, NAME_RE, TAG_RE
from rosetta_web.actions import MAX_LOG_LINES
from rosetta_web.api import MAX_QUERY
from rosetta_web.app import API_PREFIX

Schema = dict[str, Any]

# ---------------------------------------------------------------- building blocks


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = (), *, closed: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _enum(kind: Any) -> Schema:
    return _string(enum=[member.value for member in kind])


_TIME = _string(format="date-time")
_NAME = _string(
    pattern=NAME_RE.pattern,
    description="1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
)
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_SCALAR = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


def _task_options(*, closed: bool) -> Schema:
    return _object(
        {
            "engine": _nullable(_NAME),
            "cpus": _nullable({"type": "integer", "minimum": 1, "maximum": 4096}),
            "memory_mb": _nullable({"type": "integer", "minimum": 4, "maximum": 64 * 1024 * 1024}),
            "partition": _nullable(_NAME),
            "walltime_minutes": _nullable({"type": "integer", "minimum": 1, "maximum": 525600}),
            "gpus": _nullable({"type": "integer", "minimum": 0, "maximum": 64}),
        },
        closed=closed,
    )


_SOFTWARE_FIELDS: dict[str, Schema] = {
    "name": _NAME,
    "image": _string(pattern=IMAGE_RE.pattern, description="the image repository, such as jupyter/lab"),
    "registry": _string(description="a registry host, or empty for the engine's default"),
    "tag": _string(pattern=TAG_RE.pattern),
    "digest": _nullable(_string(pattern=DIGEST_RE.pattern, description="pins the image")),
    "interface_port": _nullable(_PORT),
    "protocol": _enum(InterfaceProtocol),
    "auth": _enum(AuthConvention),
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "arch": _string(),
    "needs_root": {"type": "boolean"},
    "keeps_prefix": {"type": "boolean"},
    "description": _string(),
}

_COMPUTING_FIELDS: dict[str, Schema] = {
    "name": _NAME,
    "kind": _enum(ComputingKind),
    "executor": _NAME,
    "engines": {"type": "array", "items": _NAME, "minItems": 1},
    "workload_manager": _NAME,
    "options": {"type": "object", "additionalProperties": _SCALAR},
    "description": _string(),
}

_RECORD_FIELDS: dict[str, Schema] = {"owner": _nullable(_NAME), "id": _string(), "created_at": _TIME}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "status": {"type": "integer"},
                    "code": _string(description="not_found, invalid, forbidden, conflict, ..."),
                    "message": _string(),
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "each bad input field's problem; '' is the body as a whole",
                    },
                },
                ("status", "code", "message", "fields"),
            )
        },
        ("error",),
    ),
    "User": _object(
        {
            "id": _string(),
            "name": _NAME,
            "email": _string(),
            "is_admin": {"type": "boolean"},
            "created_at": _TIME,
        },
        ("id", "name", "email", "is_admin", "created_at"),
    ),
    "SignIn": _object({"username": _string(), "password": _string()}, ("username", "password"), closed=True),
    "SignUp": _object(
        {"username": _NAME, "password": _string(), "email": _string(), "invitation": _string()},
        ("username", "password"),
        closed=True,
    ),
    "Session": _object({"user": _ref("User"), "csrf": _string()}, ("user", "csrf")),
    "Software": _object(
        {**_SOFTWARE_FIELDS, **_RECORD_FIELDS},
        ("name", "image", "tag", "protocol", "auth", "owner", "id", "created_at"),
    ),
    "NewSoftware": _object(_SOFTWARE_FIELDS, ("name", "image"), closed=True),
    "Computing": _object(
        {**_COMPUTING_FIELDS, **_RECORD_FIELDS}, ("name", "kind", "engines", "owner", "id", "created_at")
    ),
    "NewComputing": _object(
        {**_COMPUTING_FIELDS, "owner": _nullable(_NAME)}, ("name", "engines"), closed=True
    ),
    "Storage": _object(
        {
            "name": _NAME,
            "kind": _NAME,
            "base_path": _string(),
            "bind_path": _string(),
            "read_only": {"type": "boolean"},
            "browsable": {"type": "boolean"},
            "computing": _nullable(_NAME),
            **_RECORD_FIELDS,
        },
        ("name", "base_path", "bind_path", "id"),
    ),
    "TaskOptions": _task_options(closed=False),
    "Task": _object(
        {
            "id": _string(),
            "name": _NAME,
            "owner": _NAME,
            "software": _NAME,
            "computing": _NAME,
            "options": _ref("TaskOptions"),
            "status": _enum(TaskStatus),
            "engine": _nullable(_string()),
            "handle": _nullable(_string()),
            "interface_host": _nullable(_string()),
            "interface_port": _nullable(_PORT),
            "error": _nullable(_string()),
            "exit_code": _nullable({"type": "integer"}),
            "stop_requested": {"type": "boolean"},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
        ("id", "name", "owner", "software", "computing", "status", "error", "exit_code", "created_at"),
    ),
    "NewTask": _object(
        {
            "software": _NAME,
            "computing": _NAME,
            "name": _nullable(_NAME),
            **_task_options(closed=True)["properties"],
        },
        ("software", "computing"),
        closed=True,
    ),
    "ComputingAccount": _object({"computing": _NAME, "account": _string()}, ("computing", "account")),
    "SetAccount": _object(
        {"account": _string(pattern=ACCOUNT_RE.pattern, description="a POSIX account name")},
        ("account",),
        closed=True,
    ),
    "ApiToken": _object(
        {"id": _string(), "label": _string(), "created_at": _TIME, "last_used": _nullable(_TIME)},
        ("id", "label", "created_at", "last_used"),
    ),
    "NewApiToken": _object({"label": _string(minLength=1, maxLength=100)}, ("label",), closed=True),
    "CreatedApiToken": _object(
        {"id": _string(), "label": _string(), "token": _string(description="shown only in this answer")},
        ("id", "label", "token"),
    ),
    "Account": _object(
        {
            "user": _ref("User"),
            "public_keys": {"type": "array", "items": _string()},
            "accounts": {"type": "array", "items": _ref("ComputingAccount")},
            "api_tokens": {"type": "array", "items": _ref("ApiToken")},
        },
        ("user", "public_keys", "accounts", "api_tokens"),
    ),
}

# ---------------------------------------------------------------- responses

_ERRORS = {
    401: "not signed in: no valid API token or session",
    403: "not allowed (or a cookie-authenticated request without its X-CSRF-Token)",
    404: "no such record among those the user may see",
    409: "conflicts with what is stored, or not possible in the record's state",
    413: "the body is over 64 KiB",
    415: "the body is not sent as Content-Type: application/json",
    422: "the input does not validate: `fields` names each bad field",
    429: "too many failed sign-ins: see Retry-After",
    502: "the computing resource or its engine failed",
}


def _error(status: int) -> Schema:
    return {"description": _ERRORS[status], "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: Schema | None, status: int = 200) -> dict[str, Schema]:
    if schema is None:
        return {str(status): {"description": description}}
    return {str(status): {"description": description, "content": {"application/json": {"schema": schema}}}}


def _list_of(key: str, item: str) -> Schema:
    return _object({key: {"type": "array", "items": _ref(item)}}, (key,))


def _operation(
    summary: str,
    ok: dict[str, Schema],
    errors: tuple[int, ...],
    *,
    body: str | None = None,
    example: Schema | None = None,
    params: tuple[Schema, ...] = (),
    public: bool = False,
) -> Schema:
    """One operation: ``ok`` answers, ``errors`` by status (401 and 403 added unless ``public``;
    a body adds 413, 415 and 422)."""
    codes = set(errors) | (set() if public else {401, 403}) | ({413, 415, 422} if body else set())
    operation: Schema = {
        "summary": summary,
        "responses": {**ok, **{str(code): _error(code) for code in sorted(codes)}},
    }
    if public:
        operation["security"] = []
    if body:
        media: Schema = {"schema": _ref(body)}
        if example is not None:
            media["example"] = example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    if params:
        operation["parameters"] = list(params)
    return operation


def _path_param(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": _string()}


def _query_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_TASK_ID = _path_param("task_id")

#: (method, path) -> operation, for every route of :data:`rosetta_web.api.ENDPOINTS`
OPERATIONS: dict[tuple[str, str], Schema] = {
    ("GET", "/health"): _operation(
        "The front answers", _ok("ok", _object({"status": _string()}, ("status",))), (), public=True
    ),
    ("GET", "/openapi.json"): _operation(
        "This document", _ok("the OpenAPI document", {"type": "object"}), (), public=True
    ),
    ("POST", "/users"): _operation(
        "Sign up (then sign in)",
        _ok("the new user", _object({"user": _ref("User")}, ("user",)), 201),
        (403, 409),
        body="SignUp",
        example={"username": "ada", "password": "correct horse battery", "email": "ada@example.org"},
        public=True,
    ),
    ("POST", "/session"): _operation(
        "Sign in: sets the session cookie; the answer's csrf goes in X-CSRF-Token",
        _ok("signed in", _ref("Session")),
        (401, 429),
        body="SignIn",
        example={"username": "ada", "password": "correct horse battery"},
        public=True,
    ),
    ("DELETE", "/session"): _operation(
        "Sign out (an API token stays valid)", _ok("signed out", None, 204), ()
    ),
    ("GET", "/software"): _operation(
        "Software the user may run",
        _ok("by name", _list_of("software", "Software")),
        (422,),
        params=(_query_param("q", _string(maxLength=MAX_QUERY), "keep those whose text contains it"),),
    ),
    ("POST", "/software"): _operation(
        "Add a software (an admin's is public)",
        _ok("added", _ref("Software"), 201),
        (409,),
        body="NewSoftware",
        example={"name": "notebook", "image": "jupyter/base-notebook", "interface_port": 8888},
    ),
    ("GET", "/software/{name}"): _operation(
        "One software", _ok("the software", _ref("Software")), (404,), params=(_path_param("name"),)
    ),
    ("GET", "/computing"): _operation(
        "Computing resources the user may use", _ok("by name", _list_of("computing", "Computing")), ()
    ),
    ("POST", "/computing"): _operation(
        "Add a computing resource (admins only)",
        _ok("added", _ref("Computing"), 201),
        (409,),
        body="NewComputing",
        example={"name": "cluster", "kind": "local", "engines": ["docker"]},
    ),
    ("GET", "/computing/{name}"): _operation(
        "One computing resource",
        _ok("the resource", _ref("Computing")),
        (404,),
        params=(_path_param("name"),),
    ),
    ("GET", "/storages"): _operation(
        "Storages the user may see", _ok("by name", _list_of("storages", "Storage")), ()
    ),
    ("GET", "/tasks"): _operation(
        "The user's tasks, newest first",
        _ok("the tasks", _list_of("tasks", "Task")),
        (422,),
        params=(_query_param("status", _enum(TaskStatus), "only tasks in this status"),),
    ),
    ("POST", "/tasks"): _operation(
        "Create and start a task",
        _ok("the task after its start", _ref("Task"), 201),
        (404, 409, 502),
        body="NewTask",
        example={"software": "lab", "computing": "here", "name": "my-notebook", "cpus": 2},
    ),
    ("GET", "/tasks/{task_id}"): _operation(
        "One of the user's tasks", _ok("the task", _ref("Task")), (404,), params=(_TASK_ID,)
    ),
    ("POST", "/tasks/{task_id}/stop"): _operation(
        "Stop a task", _ok("the task after the stop", _ref("Task")), (404, 409, 502), params=(_TASK_ID,)
    ),
    ("GET", "/tasks/{task_id}/logs"): _operation(
        "The last lines of a task's output",
        _ok("the output", _object({"logs": _string()}, ("logs",))),
        (404, 409, 422, 502),
        params=(
            _TASK_ID,
            _query_param(
                "tail", {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES}, "lines (default 200)"
            ),
        ),
    ),
    ("POST", "/tasks/{task_id}/connect"): _operation(
        "Where the browser opens a running task's interface",
        _ok("a link (single-use when the proxy signs the user in)", _object({"url": _string()}, ("url",))),
        (404, 409, 502),
        params=(_TASK_ID,),
    ),
    ("GET", "/account"): _operation(
        "The user, their SSH public keys, computing accounts and API tokens",
        _ok("the account", _ref("Account")),
        (),
    ),
    ("PUT", "/account/computing/{computing}"): _operation(
        "Set the user's account name on a computing resource",
        _ok("set", _ref("ComputingAccount")),
        (),
        body="SetAccount",
        example={"account": "ada"},
        params=(_path_param("computing"),),
    ),
    ("POST", "/account/tokens"): _operation(
        "Make an API token (shown once)",
        _ok("the token", _ref("CreatedApiToken"), 201),
        (409,),
        body="NewApiToken",
        example={"label": "laptop"},
    ),
    ("DELETE", "/account/tokens/{token_id}"): _operation(
        "Revoke an API token", _ok("revoked", None, 204), (404,), params=(_path_param("token_id"),)
    ),
}


@functools.cache
def _built() -> Schema:
    paths: dict[str, dict[str, Schema]] = {}
    for (method, path), operation in OPERATIONS.items():
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "rosetta web API",
            "version": "1",
            "description": (
                "Tasks (containers with one interface) on computing resources, for scripts. "
                "Authenticate with `Authorization: Bearer rst_...` (an API token, from "
                "POST /account/tokens or the account page), or with the session cookie of "
                "POST /session plus the X-CSRF-Token header on state-changing requests. "
                "Every error is the Error schema."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token, rst_..."}
            },
        },
    }


def document() -> Schema:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_built())
