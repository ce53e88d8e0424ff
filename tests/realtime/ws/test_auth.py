from __future__ import annotations

import asyncio
from typing import Any

from realtime.ws.auth import ActiveUsers, origin_allowed, token_from_scope

HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def scope(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"query_string": query, "headers": headers or []}


def test_token_from_query_or_bearer_header() -> None:
    """The query token wins; otherwise Authorization: Bearer; otherwise empty."""
    assert token_from_scope(scope(b"token=abc&since=3")) == "abc"
    assert token_from_scope(scope(headers=[(b"authorization", b"Bearer xyz")])) == "xyz"
    assert token_from_scope(scope(headers=[(b"authorization", b"Basic xyz")])) == ""
    assert token_from_scope(scope()) == ""


def test_origin_must_be_an_allowed_host() -> None:
    """No Origin passes; a browser Origin must name one of ALLOWED_HOSTS."""
    assert origin_allowed(scope(), HOSTS)
    assert origin_allowed(scope(headers=[(b"origin", b"http://localhost:8000")]), HOSTS)
    assert origin_allowed(scope(headers=[(b"origin", b"http://[::1]:8000")]), HOSTS)
    assert not origin_allowed(scope(headers=[(b"origin", b"https://evil.example")]), HOSTS)
    assert not origin_allowed(scope(headers=[(b"origin", b"null")]), HOSTS)


def test_active_users_are_remembered_for_the_ttl_only() -> None:
    """A user found active is known until the TTL passes, then looked up again."""
    users = ActiveUsers(ttl=5.0)
    assert not users.known(1, now=100.0)
    users.remember(1, now=100.0)
    assert users.known(1, now=104.9)
    assert not users.known(1, now=105.1)


def test_active_users_stay_bounded() -> None:
    """Past its size the cache forgets, so a flood of ids cannot grow it without bound."""
    users = ActiveUsers(ttl=5.0, size=3)
    for user_id in range(10):
        users.remember(user_id, now=0.0)
    assert len(users._until) <= 3
    assert users.known(9, now=1.0)


class HeldLookup:
    """A user lookup that answers `active` once released, counting its calls."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.calls: list[int] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, user_id: int) -> bool:
        self.calls.append(user_id)
        self.started.set()
        await self.release.wait()
        return self.active


async def test_concurrent_checks_share_one_lookup() -> None:
    """Many connections of one user asking at once cost one lookup, whose answer is remembered."""
    users, lookup = ActiveUsers(ttl=60.0), HeldLookup(active=True)
    askers = [asyncio.create_task(users.check(7, lookup)) for _ in range(50)]
    await asyncio.wait_for(lookup.started.wait(), 1)
    lookup.release.set()
    assert await asyncio.gather(*askers) == [True] * 50
    assert await users.check(7, lookup)
    assert lookup.calls == [7]


async def test_an_inactive_user_is_not_remembered_and_a_cancelled_asker_spares_the_rest() -> None:
    """An inactive user is looked up again next time; a cancelled asker leaves the lookup alone."""
    users, lookup = ActiveUsers(ttl=60.0), HeldLookup(active=False)
    first, second = (asyncio.create_task(users.check(3, lookup)) for _ in range(2))
    # Both askers wait on the lookup once it runs.
    await asyncio.wait_for(lookup.started.wait(), 1)
    first.cancel()
    lookup.release.set()
    assert await second is False
    assert await users.check(3, lookup) is False
    assert lookup.calls == [3, 3]
