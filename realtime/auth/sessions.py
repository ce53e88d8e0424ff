"""A principal from Django's session cookie (`realtime.auth.session`)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.utils.crypto import constant_time_compare

from realtime.auth.principal import Principal
from realtime.auth.scope import header


def session_key(scope: dict[str, Any]) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    cookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else None


def principal_of_session(scope: dict[str, Any]) -> Principal | None:
    """The signed-in user of the scope's session, as django.contrib.auth's
    get_user finds them (the password hash still matching), or None."""
    key = session_key(scope)
    if not key:
        return None
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore(key)
    user_id = store.get(SESSION_KEY)
    backend_path = store.get(BACKEND_SESSION_KEY)
    if user_id is None or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None or not getattr(user, "is_active", True):
        return None
    verify = getattr(user, "get_session_auth_hash", None)
    if verify is not None and not constant_time_compare(store.get(HASH_SESSION_KEY, ""), verify()):
        return None
    return Principal(
        user_id=int(user.pk),
        username=user.get_username(),
        staff=bool(getattr(user, "is_staff", False)),
        expires_at=store.get_expiry_date().timestamp(),
    )
