"""`realtime.auth.session`: Django's session cookie as a principal, refused once
the session is gone or the password changed (realtime/auth/sessions.py)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from realtime import auth
from realtime.auth.principal import AuthenticationFailed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def cookie_sessions(settings: Any) -> None:
    """Sessions in a signed cookie: the demo project installs no sessions app."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


def signed_in(name: str, staff: bool = False) -> tuple[Any, str]:
    user = get_user_model().objects.create_user(name, password="pw-1", is_staff=staff)
    client = Client()
    client.force_login(user)
    return user, client.cookies["sessionid"].value


def scope(cookie: str) -> dict[str, Any]:
    return {"headers": [(b"cookie", f"theme=dark; sessionid={cookie}".encode())]}


async def test_a_signed_in_browser_is_its_user_until_the_session_expires() -> None:
    """The cookie's user, staff flag from the database, expiring with the session."""
    user, cookie = await database_sync_to_async(signed_in)("sam", True)
    principal = await auth.session(scope(cookie))
    assert principal is not None
    assert (principal.user_id, principal.username, principal.staff) == (user.pk, "sam", True)
    assert principal.expires_at is not None


async def test_no_cookie_a_forged_one_or_a_changed_password_is_refused() -> None:
    """Each is a 4401 (AuthenticationFailed), never a pass."""
    user, cookie = await database_sync_to_async(signed_in)("kim")
    for bad in ({"headers": []}, scope("not-a-session")):
        with pytest.raises(AuthenticationFailed):
            await auth.session(bad)

    def change_password() -> None:
        user.set_password("pw-2")
        user.save()

    await database_sync_to_async(change_password)()
    with pytest.raises(AuthenticationFailed):
        await auth.session(scope(cookie))
