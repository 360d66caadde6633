"""Local accounts for the rosetta platform: argon2id passwords, rate-limited sign-in, server-side
sessions with CSRF tokens, and API tokens for scripts.

Everything here is a plain function of a started kernel whose plugins include this one (entry
point ``auth-local``); all state lives in the kernel's store, so any number of processes may share
it. Every function blocks (argon2 takes tens of milliseconds on purpose): async callers run them
in a worker thread.
"""

from rosetta_auth_local.accounts import (
    change_password,
    create_account,
    create_admin,
    has_admin,
    has_password,
    set_password,
    sign_up,
)
from rosetta_auth_local.authenticator import LocalAuthenticator
from rosetta_auth_local.errors import LocalAuthError, SignInFailed, SignUpRefused, TooManyAttempts
from rosetta_auth_local.options import LocalAuthOptions
from rosetta_auth_local.sessions import (
    check_csrf,
    csrf_token,
    end_session,
    end_sessions,
    session_user,
    start_session,
)
from rosetta_auth_local.signin import sign_in
from rosetta_auth_local.tokens import ApiToken, api_tokens, create_api_token, revoke_api_token, token_user

__all__ = [
    "ApiToken",
    "LocalAuthError",
    "LocalAuthOptions",
    "LocalAuthenticator",
    "SignInFailed",
    "SignUpRefused",
    "TooManyAttempts",
    "api_tokens",
    "change_password",
    "check_csrf",
    "create_account",
    "create_admin",
    "create_api_token",
    "csrf_token",
    "end_session",
    "end_sessions",
    "has_admin",
    "has_password",
    "revoke_api_token",
    "session_user",
    "set_password",
    "sign_in",
    "sign_up",
    "start_session",
    "token_user",
]
