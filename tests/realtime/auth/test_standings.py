"""Users' standings (`realtime/auth/standings.py`): read from the database,
remembered for the recheck interval, bounded in size."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime.auth.standings import RecentStandings, RememberedStandings, Standing, Standings

ACTIVE = Standing(active=True, staff=False)


def test_standings_are_remembered_for_the_ttl_only() -> None:
    """A standing is known until the TTL passes, then looked up again."""
    users = RememberedStandings(ttl=5.0)
    assert users.known(1, now=100.0) is None
    users.remember(1, ACTIVE, now=100.0)
    assert users.known(1, now=104.9) == ACTIVE
    assert users.known(1, now=105.1) is None


def test_standings_stay_bounded() -> None:
    """Past its size the cache forgets, so a flood of ids cannot grow it without bound."""
    users = RememberedStandings(ttl=5.0, size=3)
    for user_id in range(10):
        users.remember(user_id, ACTIVE, now=0.0)
    assert len(users._known) <= 3
    assert users.known(9, now=1.0) == ACTIVE


@pytest.mark.django_db
def test_an_http_standing_costs_one_query_while_it_is_fresh() -> None:
    """Three lookups of one user within the TTL make one query; a demotion shows after it."""
    user = get_user_model().objects.create_user("alice", is_staff=True)
    recent = RecentStandings(ttl=60.0)
    with CaptureQueriesContext(connection) as queries:
        answers = [recent.get(user.pk) for _ in range(3)]
    assert [(a.active, a.staff) for a in answers] == [(True, True)] * 3
    assert len(queries) == 1
    user.is_staff = False
    user.save()
    assert recent.get(user.pk).staff is True
    recent.clear()
    assert recent.get(user.pk)[:2] == (True, False)


@pytest.mark.django_db(transaction=True)
async def test_an_http_standing_from_the_loop_is_looked_up_in_a_thread_once() -> None:
    """`aget` looks a user up off the loop's thread, then answers from memory on it."""
    user = await get_user_model().objects.acreate(username="alice", is_staff=True)
    recent = RecentStandings(ttl=60.0)
    threads: list[str] = []
    looked_up = recent.get

    def get(user_id: int) -> Standing:
        threads.append(threading.current_thread().name)
        return looked_up(user_id)

    recent.get = get  # type: ignore[method-assign]
    answers = [await recent.aget(user.pk) for _ in range(3)]
    assert [(a.active, a.staff) for a in answers] == [(True, True)] * 3
    assert len(threads) == 1
    assert threads[0] != threading.current_thread().name


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
