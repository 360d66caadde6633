"""The server-rendered pages (Jinja2 templates in ``templates/``, scripts in ``static/``).

Every page reads and changes through :class:`~rosetta_web.actions.Actions`, so a user sees and
acts on their own tasks only (another user's task is a 404 page) and only admins add computing
resources (a 403 page). A page that needs a user sends a visitor without a session to
``/sign-in?next=<page>``. Forms POST with the hidden ``csrf`` field (a missing or wrong one is a 403
page and changes nothing); a successful POST redirects (303), a form with bad input is shown again
with a message next to each bad field (422) and nothing is saved.

Two small JSON endpoints feed the pages' scripts: ``/tasks/status.json`` (the tasks page polls it
every 2 s) and ``/tasks/{id}/logs.json`` (the logs page's live tail).
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rosetta_auth_local import (
    SignInFailed,
    SignUpRefused,
    TooManyAttempts,
    change_password,
    end_session,
    sign_in,
    sign_up,
    start_session,
)
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_core.errors import BackendError, ConflictError, NotFoundError, ValidationError
from rosetta_core.model import Computing, Software, Task, TaskStatus
from rosetta_web.actions import Actions
from rosetta_web.auth import (
    SESSION_COOKIE,
    Identity,
    clear_session_cookie,
    identify,
    kernel_of,
    options_of,
    require,
    set_session_cookie,
)
from rosetta_web.errors import field_errors
from rosetta_web.pages_forms import (
    FormTooLarge,
    NotAForm,
    computing_input,
    read_form,
    software_input,
    task_input,
    text,
)

#: how many lines the logs page shows and its script asks for
LOG_LINES = 500
#: how often (ms) the tasks and logs pages' scripts ask again
POLL_MS = 2000
TASKS_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_NEXT = 512
Endpoint = Callable[[Request], Response]


# ---------------------------------------------------------------- rendering


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``template`` rendered with ``context`` plus what every page shows: ``site`` (the options),
    ``identity`` (the signed-in user or ``None``), ``csrf`` (the token forms carry) and ``path``
    (the page's path, for the menu)."""
    identity = identify(request)
    base = {
        "site": options_of(request),
        "identity": identity,
        "csrf": identity.csrf(kernel_of(request)) if identity is not None else "",
        "path": request.url.path,
        "poll_ms": POLL_MS,
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status, headers=headers
    )
    return response


def error_page(
    request: Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """The error page for ``status`` with ``message``."""
    return render(
        request, "error.html", {"status": status, "message": message}, status=status, headers=headers
    )


def form_page(
    request: Request, template: str, context: Mapping[str, Any], exc: ValidationError, *, status: int = 422
) -> Response:
    """``template`` shown again with the submitted values and ``errors``: each bad field's message
    (``errors[""]`` is about the whole form)."""
    return render(request, template, {**context, "errors": page_errors(exc)}, status=status)


def page_errors(exc: ValidationError) -> dict[str, str]:
    """:func:`~rosetta_web.errors.field_errors` keyed by the forms' field names (a task's
    ``options.cpus`` is the form's ``cpus``)."""
    return {key.removeprefix("options."): message for key, message in field_errors(exc).items()}


def see_other(url: str) -> Response:
    """The answer to a successful POST: the browser GETs ``url``."""
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------- who asks


def _next_path(value: str) -> str:
    """``value`` when it is a path of this site, else ``/`` (no open redirect)."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and len(value) <= MAX_NEXT:
        return value
    return "/"


def signed_in(view: Callable[[Request, Identity], Response]) -> Endpoint:
    """A GET page for signed-in users: a visitor without a session goes to the sign-in page,
    which brings them back."""

    @functools.wraps(view)
    def page(request: Request) -> Response:
        identity = identify(request)
        if identity is None:
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={_quote(_next_path(back))}", status_code=303)
        return view(request, identity)

    return page


def posted(view: Callable[[Request, Identity, dict[str, str]], Response]) -> Endpoint:
    """A form's POST endpoint: the form is read, the session and its CSRF token checked
    (:func:`~rosetta_web.auth.require`: 401 or 403 pages), then ``view`` runs."""

    @functools.wraps(view)
    def endpoint(request: Request) -> Response:
        form = _form(request)
        if isinstance(form, Response):
            return form
        return view(request, require(request, form), form)

    return endpoint


def _form(request: Request) -> dict[str, str] | Response:
    try:
        return read_form(request)
    except FormTooLarge as exc:
        return error_page(request, 413, str(exc))
    except NotAForm as exc:
        return error_page(request, 415, str(exc))


def _quote(path: str) -> str:
    return urllib.parse.quote(path, safe="/")


def actions(request: Request, identity: Identity) -> Actions:
    return Actions(kernel_of(request), identity.user)


def _same_origin(request: Request) -> bool:
    """Whether a form without a session (sign-in, sign-up) comes from this site's pages: a
    browser sends ``Origin`` with a POST, and another site's differs."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    if origin.rstrip("/") == options_of(request).url:  # behind a front that rewrites Host
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


# ---------------------------------------------------------------- main page and accounts


def home(request: Request) -> Response:
    """``GET /``: the main page: the site's text, and how to start."""
    return render(request, "home.html")


def sign_up_page(request: Request) -> Response:
    """``GET /sign-up``."""
    return render(request, "sign_up.html", _sign_up_context(request, {}))


def _sign_up_context(request: Request, form: Mapping[str, str]) -> dict[str, Any]:
    options = kernel_of(request).options(LocalAuthOptions)
    return {
        "form": form,
        "open": options.open_sign_up,
        "invitation": bool(options.invitation_file),
        "errors": {},
    }


def sign_up_post(request: Request) -> Response:
    """``POST /sign-up``: make the account, sign in, go to the main page."""
    form = _form(request)
    if isinstance(form, Response):
        return form
    if not _same_origin(request):
        return error_page(request, 403, "the form is not from this site")
    context = _sign_up_context(request, {"name": text(form, "name"), "email": text(form, "email")})
    kernel = kernel_of(request)
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        problem = ValidationError("account", ["$.password_again: the two passwords differ"])
        return form_page(request, "sign_up.html", context, problem)
    try:
        user = sign_up(
            kernel,
            text(form, "name"),
            password,
            email=text(form, "email"),
            invitation=form.get("invitation") or None,
            client=request.client.host if request.client else "",
        )
    except ValidationError as exc:
        return form_page(request, "sign_up.html", context, exc)
    except ConflictError:
        taken = ValidationError("account", ["$.name: this name is taken: choose another"])
        return form_page(request, "sign_up.html", context, taken, status=409)
    except SignUpRefused as exc:
        return form_page(request, "sign_up.html", context, ValidationError("account", [str(exc)]), status=403)
    return _signed_in_response(request, user_session=start_session(kernel, user)[0], to="/")


def sign_in_page(request: Request) -> Response:
    """``GET /sign-in`` (``?next=`` the page to go back to)."""
    context = {"form": {}, "next": _next_path(request.query_params.get("next", "/")), "errors": {}}
    return render(request, "sign_in.html", context)


def sign_in_post(request: Request) -> Response:
    """``POST /sign-in``: wrong credentials and the rate limit are said on the form."""
    form = _form(request)
    if isinstance(form, Response):
        return form
    if not _same_origin(request):
        return error_page(request, 403, "the form is not from this site")
    next_path = _next_path(form.get("next", "/"))
    context = {"form": {"name": text(form, "name")}, "next": next_path}
    client = request.client.host if request.client else ""
    try:
        user = sign_in(kernel_of(request), text(form, "name"), form.get("password", ""), client=client)
    except TooManyAttempts as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        errors = {"": f"Too many failed attempts: try again in {exc.retry_after} seconds."}
        return render(request, "sign_in.html", {**context, "errors": errors}, status=429, headers=headers)
    except SignInFailed:
        errors = {"": "Wrong user name or password."}
        return render(request, "sign_in.html", {**context, "errors": errors}, status=401)
    return _signed_in_response(request, user_session=start_session(kernel_of(request), user)[0], to=next_path)


def _signed_in_response(request: Request, *, user_session: str, to: str) -> Response:
    response = see_other(to)
    set_session_cookie(response, user_session, secure=options_of(request).secure_cookies)
    return response


@posted
def sign_out(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /sign-out``: end the session."""
    end_session(kernel_of(request), request.cookies.get(SESSION_COOKIE, ""))
    response = see_other("/")
    clear_session_cookie(response, secure=options_of(request).secure_cookies)
    return response


# ---------------------------------------------------------------- software


@signed_in
def software_list(request: Request, identity: Identity) -> Response:
    """``GET /software``: the cards; ``?q=`` searches names, descriptions and images, ``?show=``
    keeps ``public`` ones (the platform's) or ``mine``."""
    query = request.query_params.get("q", "")[:100]
    show = request.query_params.get("show", "all")
    found = actions(request, identity).software(query)
    if show == "public":
        found = [s for s in found if s.owner is None]
    elif show == "mine":
        found = [s for s in found if s.owner == identity.user.name]
    else:
        show = "all"
    added = request.query_params.get("added", "")
    context = {"software": found, "q": query, "show": show, "added": added}
    return render(request, "software.html", context)


def _software_context(form: Mapping[str, str]) -> dict[str, Any]:
    return {"form": form, "errors": {}, "protocols": ("http", "https", "tcp")}


@signed_in
def software_new(request: Request, identity: Identity) -> Response:
    """``GET /software/new``: add a software from a registry."""
    form = {"tag": "latest", "arch": "amd64", "protocol": "http", "auth": "none"}
    return render(request, "software_new.html", _software_context(form))


@posted
def software_add(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /software/new``."""
    act = actions(request, identity)
    return _add(request, "software", _software_context(form), lambda: act.add_software(software_input(form)))


# ---------------------------------------------------------------- computing and storages


@signed_in
def computing_list(request: Request, identity: Identity) -> Response:
    """``GET /computing``: the computing resources the user may use."""
    added = request.query_params.get("added", "")
    context = {"computing": actions(request, identity).computing(), "added": added}
    return render(request, "computing.html", context)


@signed_in
def computing_new(request: Request, identity: Identity) -> Response:
    """``GET /computing/new``: admins only (403 page)."""
    actions(request, identity).check_may_add_computing()
    form = {"kind": "local", "executor": "local", "workload_manager": "none", "engines": "podman"}
    return render(request, "computing_new.html", {"form": form, "errors": {}})


@posted
def computing_add(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /computing/new``: admins only (403 page, nothing read)."""
    act = actions(request, identity)
    act.check_may_add_computing()
    return _add(request, "computing", {"form": form}, lambda: act.add_computing(computing_input(form)))


def _add(
    request: Request, kind: str, context: dict[str, Any], add: Callable[[], Software | Computing]
) -> Response:
    """Run ``add``; its form again, each problem next to its field, when the input is refused or
    the name taken (409); else to the ``kind`` list saying what was added."""
    try:
        record = add()
    except ValidationError as exc:
        return form_page(request, f"{kind}_new.html", context, exc)
    except ConflictError:
        taken = ValidationError(kind, ["$.name: this name is taken: choose another"])
        return form_page(request, f"{kind}_new.html", context, taken, status=409)
    return see_other(f"/{kind}?added={_quote(record.name)}")


@signed_in
def storages_list(request: Request, identity: Identity) -> Response:
    """``GET /storages``: the storages the user's tasks may bind."""
    return render(request, "storages.html", {"storages": actions(request, identity).storages()})


# ---------------------------------------------------------------- tasks


def _task_context(act: Actions, form: Mapping[str, str]) -> dict[str, Any]:
    software, computing = act.software(), act.computing()
    return {
        "form": form,
        "errors": {},
        "software": software,
        "software_choices": [(s.name, f"{s.name} ({s.image}:{s.tag})") for s in software],
        "computing": computing,
        "engines": sorted({engine for c in computing for engine in c.engines}),
    }


@signed_in
def task_new(request: Request, identity: Identity) -> Response:
    """``GET /tasks/new`` (``?software=`` preselects one): pick software and computing."""
    act = actions(request, identity)
    form = {"software": request.query_params.get("software", "")[:64]}
    computing = act.computing()
    if len(computing) == 1:
        form["computing"] = computing[0].name
    return render(request, "task_new.html", _task_context(act, form))


@posted
def task_create(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /tasks/new``: create and start the task, then the tasks page."""
    act = actions(request, identity)
    try:
        act.new_task(task_input(form))
    except ValidationError as exc:
        return form_page(request, "task_new.html", _task_context(act, form), exc)
    except ConflictError as exc:
        problem = ValidationError("task", [f"$.name: {exc}"])
        return form_page(request, "task_new.html", _task_context(act, form), problem, status=409)
    return see_other("/tasks")


def task_view(task: Task, software: Mapping[str, Software]) -> dict[str, Any]:
    """What the tasks page and its status endpoint say about ``task``."""
    return {
        "id": task.id,
        "name": task.name,
        "software": task.software,
        "computing": task.computing,
        "status": task.status.value,
        "error": task.error or "",
        "running": task.status is TaskStatus.RUNNING,
        "ended": task.status.is_terminal,
        "web": task.software in software and software[task.software].protocol.value != "tcp",
        "created": task.created_at.strftime("%Y-%m-%d %H:%M UTC"),
    }


@signed_in
def tasks_list(request: Request, identity: Identity) -> Response:
    """``GET /tasks``: the user's tasks; their statuses update without a reload."""
    act = actions(request, identity)
    software = {s.name: s for s in act.software()}
    page = _page(request)
    # one more than a page: whether an older page exists
    tasks = act.tasks(limit=TASKS_PER_PAGE + 1, offset=(page - 1) * TASKS_PER_PAGE)
    views = [(task, task_view(task, software)) for task in tasks[:TASKS_PER_PAGE]]
    context = {"tasks": views, "page": page, "older": len(tasks) > TASKS_PER_PAGE}
    # the page shows task passwords: no cache keeps it
    return render(request, "tasks.html", context, headers={"Cache-Control": "no-store"})


def _page(request: Request) -> int:
    """The ``page`` query parameter (1 for the newest tasks); anything else than 1 to 100000 is 1."""
    value = request.query_params.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PAGE else 1


def tasks_status(request: Request) -> Response:
    """``GET /tasks/status.json``: ``{"tasks": [task_view, ...]}`` for the tasks page's script
    (401 without a session)."""
    identity = identify(request)
    if identity is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    act = actions(request, identity)
    software = {s.name: s for s in act.software()}
    offset = (_page(request) - 1) * TASKS_PER_PAGE
    views = [task_view(task, software) for task in act.tasks(limit=TASKS_PER_PAGE, offset=offset)]
    return JSONResponse({"tasks": views}, headers={"Cache-Control": "no-store"})


@posted
def task_stop(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /tasks/{id}/stop``: another user's task is a 404 page."""
    actions(request, identity).stop_task(request.path_params["task_id"])
    return see_other("/tasks")


@signed_in
def task_connect(request: Request, identity: Identity) -> Response:
    """``GET /tasks/{id}/connect``: into the running task through the proxy (its single-use link);
    a task that is not running is a 409 page, another user's a 404 page."""
    link = actions(request, identity).connect(request.path_params["task_id"])
    if "://" not in link:
        # a tunnel without a web address (a TCP interface): say where it is instead
        return render(request, "task_address.html", {"address": link})
    return RedirectResponse(link, status_code=303, headers={"Cache-Control": "no-store"})


def _log_text(act: Actions, task_id: str) -> str:
    """The task's last :data:`LOG_LINES` lines, or why there are none."""
    try:
        return act.logs(task_id, tail=LOG_LINES)
    except (BackendError, ConflictError) as exc:
        return f"(no output available: {exc})"


@signed_in
def task_logs(request: Request, identity: Identity) -> Response:
    """``GET /tasks/{id}/logs``: the task's output, tailed live by the page's script."""
    act = actions(request, identity)
    task = act.task(request.path_params["task_id"])
    return render(request, "task_logs.html", {"task": task, "logs": _log_text(act, task.id)})


def task_logs_json(request: Request) -> Response:
    """``GET /tasks/{id}/logs.json``: ``{"status", "logs"}`` for the logs page's script (401
    without a session, 404 for another user's task)."""
    identity = identify(request)
    if identity is None:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    act = actions(request, identity)
    try:
        task = act.task(request.path_params["task_id"])
    except NotFoundError:
        return JSONResponse({"error": "no such task"}, status_code=404)
    body = {"status": task.status.value, "logs": _log_text(act, task.id)}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------- account

_DONE = {
    "password": "Your password is changed; your other sessions have ended.",
    "account": "Your account name is saved.",
    "revoked": "The API token is revoked.",
}


def _account_context(request: Request, identity: Identity, **extra: Any) -> dict[str, Any]:
    act = actions(request, identity)
    accounts = {a.computing: a.account for a in act.accounts()}
    return {
        "keys": act.public_keys(),
        "computing": act.computing(),
        "accounts": accounts,
        "tokens": act.api_tokens(),
        "done": _DONE.get(request.query_params.get("done", ""), ""),
        "errors": {},
        "account_errors": {},
        "form": {},
        "new_token": "",
        **extra,
    }


@signed_in
def account(request: Request, identity: Identity) -> Response:
    """``GET /account``: SSH keys, account names per computing resource, API tokens, password."""
    return render(
        request, "account.html", _account_context(request, identity), headers={"Cache-Control": "no-store"}
    )


@posted
def account_name(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /account/computing-user``: the user's account name on one computing resource."""
    computing = text(form, "computing")
    try:
        actions(request, identity).set_account(computing, text(form, "account"))
    except ValidationError as exc:
        errors = page_errors(exc)
        message = errors.get("account") or errors.get("computing") or next(iter(errors.values()))
        context = _account_context(request, identity, account_errors={computing: message}, form=form)
        return render(request, "account.html", context, status=422)
    return see_other("/account?done=account#accounts")


@posted
def token_create(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /account/tokens``: a new API token, shown once on the page this answers with (it
    is stored nowhere in clear, so it cannot survive a redirect)."""
    try:
        token = actions(request, identity).create_api_token(form.get("label", ""))
    except ValidationError as exc:
        context = _account_context(request, identity, errors=page_errors(exc), form=form)
        return render(request, "account.html", context, status=422)
    except ConflictError as exc:
        context = _account_context(request, identity, errors={"label": str(exc)}, form=form)
        return render(request, "account.html", context, status=409)
    context = _account_context(request, identity, new_token=token)
    return render(request, "account.html", context, status=201, headers={"Cache-Control": "no-store"})


@posted
def token_revoke(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /account/tokens/{id}/revoke``: another user's token is a 404 page."""
    actions(request, identity).revoke_api_token(request.path_params["token_id"])
    return see_other("/account?done=revoked#tokens")


@posted
def password_change(request: Request, identity: Identity, form: dict[str, str]) -> Response:
    """``POST /account/password``: needs the current password; ends the user's other sessions."""
    new = form.get("new_password", "")
    errors: dict[str, str] = {}
    status = 422
    if new != form.get("new_password_again", ""):
        errors = {"new_password_again": "the two new passwords differ"}
    else:
        try:
            change_password(
                kernel_of(request),
                identity.user,
                form.get("old_password", ""),
                new,
                keep_session=identity.session,
            )
        except ValidationError as exc:
            errors = page_errors(exc)
        except TooManyAttempts as exc:
            errors, status = {"old_password": str(exc)}, 429
        except SignInFailed:
            errors, status = {"old_password": "this is not your current password"}, 401
    if errors:
        context = _account_context(request, identity, errors=errors)
        return render(request, "account.html", context, status=status)
    return see_other("/account?done=password#password")


# ---------------------------------------------------------------- routes


def routes() -> list[BaseRoute]:
    """The pages' routes."""
    return [
        Route("/", home, methods=["GET"], name="home"),
        Route("/sign-up", sign_up_page, methods=["GET"], name="sign_up"),
        Route("/sign-up", sign_up_post, methods=["POST"]),
        Route("/sign-in", sign_in_page, methods=["GET"], name="sign_in"),
        Route("/sign-in", sign_in_post, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"], name="sign_out"),
        Route("/software", software_list, methods=["GET"], name="software"),
        Route("/software/new", software_new, methods=["GET"], name="software_new"),
        Route("/software/new", software_add, methods=["POST"]),
        Route("/computing", computing_list, methods=["GET"], name="computing"),
        Route("/computing/new", computing_new, methods=["GET"], name="computing_new"),
        Route("/computing/new", computing_add, methods=["POST"]),
        Route("/storages", storages_list, methods=["GET"], name="storages"),
        Route("/tasks", tasks_list, methods=["GET"], name="tasks"),
        Route("/tasks/status.json", tasks_status, methods=["GET"], name="tasks_status"),
        Route("/tasks/new", task_new, methods=["GET"], name="task_new"),
        Route("/tasks/new", task_create, methods=["POST"]),
        Route("/tasks/{task_id}/stop", task_stop, methods=["POST"], name="task_stop"),
        Route("/tasks/{task_id}/connect", task_connect, methods=["GET"], name="task_connect"),
        Route("/tasks/{task_id}/logs", task_logs, methods=["GET"], name="task_logs"),
        Route("/tasks/{task_id}/logs.json", task_logs_json, methods=["GET"], name="task_logs_json"),
        Route("/account", account, methods=["GET"], name="account"),
        Route("/account/computing-user", account_name, methods=["POST"]),
        Route("/account/tokens", token_create, methods=["POST"]),
        Route("/account/tokens/{token_id}/revoke", token_revoke, methods=["POST"]),
        Route("/account/password", password_change, methods=["POST"]),
    ]
