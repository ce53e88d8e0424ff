"""Who is connecting (docs/integrate.md, "Login"). `REALTIME_AUTHENTICATE`
names a function of the ASGI scope that returns a `Principal`, returns None
or raises `AuthenticationFailed` (4401), and may be sync or async. Two come
with the package:

- `realtime.auth.jwt`: the package's HS256 tokens, from `Authorization:
  Bearer` or `?token=` (the default);
- `realtime.auth.session`: Django's session cookie, as a logged-in browser
  sends it.

Either way the user's active and staff flags are read from the database and
re-read on open connections every AUTH_RECHECK_INTERVAL."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils.module_loading import import_string

from realtime.auth import standings, tokens
from realtime.auth.principal import AuthenticationFailed, Principal
from realtime.conf import settings

__all__ = ["AuthenticationFailed", "Principal", "authenticate", "jwt", "session"]

STANDINGS = standings.Standings(ttl=settings.AUTH_RECHECK_INTERVAL)
SIGNED_OUT = "signed out: sign in again"


async def jwt(scope: dict[str, Any]) -> Principal | None:
    """The package's token from `Authorization: Bearer` or `?token=`, for an active user."""
    from realtime.auth.scope import token_from_scope

    try:
        principal = tokens.verify_token(token_from_scope(scope))
    except tokens.TokenError as exc:
        raise AuthenticationFailed(str(exc)) from None
    return await with_standing(principal)


async def with_standing(principal: Principal) -> Principal:
    """`principal` with the staff flag the database holds now; a user who is
    gone or inactive is refused."""
    standing = await STANDINGS.check(principal.user_id, database_sync_to_async(standings.standing))
    if not standing.active:
        raise AuthenticationFailed("unknown or inactive user")
    return dataclasses.replace(principal, staff=standing.staff)


async def session(scope: dict[str, Any]) -> Principal | None:
    """Django's session cookie (SESSION_COOKIE_NAME), as a signed-in browser
    sends it; the connection lasts until the session expires."""
    from realtime.auth.sessions import principal_of_session

    found: Principal | None = await database_sync_to_async(principal_of_session)(scope)
    if found is None:
        raise AuthenticationFailed("not signed in")
    return await with_standing(found)


_loaded: dict[str, Callable[[dict[str, Any]], Awaitable[Principal | None]]] = {}


def authenticator() -> Callable[[dict[str, Any]], Awaitable[Principal | None]]:
    """REALTIME_AUTHENTICATE, made awaitable (a sync one runs on a thread)."""
    path = settings.REALTIME_AUTHENTICATE
    found = _loaded.get(path)
    if found is None:
        function = import_string(path)
        found = function if inspect.iscoroutinefunction(function) else sync_to_async(function)
        _loaded[path] = found
    return found


async def authenticate(scope: dict[str, Any]) -> Principal | None:
    return await authenticator()(scope)
