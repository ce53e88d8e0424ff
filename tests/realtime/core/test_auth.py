from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from realtime.core.auth import Standings, origin_allowed, token_from_scope
from realtime.orders.standings import Standing

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


ACTIVE = Standing(active=True, staff=False)
INACTIVE = Standing(active=False, staff=False)


class HeldLookup:
    """A user lookup that answers `standing` once released, counting its calls."""

    def __init__(self, standing: Standing) -> None:
        self.standing = standing
        self.calls: list[int] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, user_id: int) -> Standing:
        self.calls.append(user_id)
        self.started.set()
        await self.release.wait()
        return self.standing


async def test_concurrent_checks_share_one_lookup() -> None:
    """Many connections of one user asking at once cost one lookup, whose answer is remembered."""
    users, lookup = Standings(ttl=60.0), HeldLookup(ACTIVE)
    askers = [asyncio.create_task(users.check(7, lookup)) for _ in range(50)]
    await asyncio.wait_for(lookup.started.wait(), 1)
    lookup.release.set()
    assert await asyncio.gather(*askers) == [ACTIVE] * 50
    assert await users.check(7, lookup) == ACTIVE
    assert lookup.calls == [7]


async def test_a_cancelled_asker_spares_the_rest() -> None:
    """A cancelled asker leaves the shared lookup alone; an inactive answer is remembered too."""
    users, lookup = Standings(ttl=60.0), HeldLookup(INACTIVE)
    first, second = (asyncio.create_task(users.check(3, lookup)) for _ in range(2))
    # Both askers wait on the lookup once it runs.
    await asyncio.wait_for(lookup.started.wait(), 1)
    first.cancel()
    lookup.release.set()
    assert await second == INACTIVE
    assert await users.check(3, lookup) == INACTIVE
    assert lookup.calls == [3]


async def test_refresh_looks_every_user_up_in_one_batch() -> None:
    """refresh() asks once for all ids and replaces what was remembered."""
    users = Standings(ttl=60.0)
    users.remember(1, ACTIVE, now=0.0)
    asked: list[tuple[int, ...]] = []

    async def lookup(ids: Iterable[int]) -> dict[int, Standing]:
        asked.append(tuple(ids))
        return {1: INACTIVE, 2: Standing(active=True, staff=True)}

    fresh = await users.refresh([1, 2], lookup)
    assert asked == [(1, 2)]
    assert fresh[1] == INACTIVE
    assert users.known(2, time.monotonic()) == Standing(active=True, staff=True)
