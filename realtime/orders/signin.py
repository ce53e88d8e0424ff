"""Who may try a password, before any is hashed (docs/operations.md,
"Sign-in throttles"): django-axes locks a username at one client address
after LOGIN_FAILURE_LIMIT failures; here one address is refused after
LOGIN_ADDRESS_LIMIT failures across usernames (a password spray), and at
most SIGN_IN_CONCURRENCY passwords are hashed at once in a process, so
sign-ins cannot take the server from everyone else. Both count in Django's
cache: per process by default, shared through Redis when it is set."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from realtime.auth.scope import client_address
from realtime.conf import settings as realtime_settings

WAIT_FOR_A_TURN = 2.0


def address(request: HttpRequest) -> str:
    """The client address of a request, through TRUSTED_PROXIES (also django-axes')."""
    peer = str(request.META.get("REMOTE_ADDR", "-"))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    return client_address(peer, forwarded, realtime_settings.TRUSTED_PROXIES)


def _key(where: str) -> str:
    return f"realtime:sign-in-failures:{where}"


def address_refused(request: HttpRequest) -> bool:
    """Whether the address has failed LOGIN_ADDRESS_LIMIT times within LOGIN_LOCKOUT."""
    failures = cache.get(_key(address(request)), 0)
    return int(failures) >= settings.LOGIN_ADDRESS_LIMIT


def count_failure(request: HttpRequest) -> None:
    key = _key(address(request))
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT)
    with contextlib.suppress(ValueError):
        cache.incr(key)


_hashing = threading.BoundedSemaphore(max(1, int(getattr(settings, "SIGN_IN_CONCURRENCY", 2))))


@contextlib.contextmanager
def hashing_turn() -> Iterator[bool]:
    """A turn to hash a password; False when none came within two seconds."""
    got = _hashing.acquire(timeout=WAIT_FOR_A_TURN)
    try:
        yield got
    finally:
        if got:
            _hashing.release()
