from __future__ import annotations

import asyncio

import pytest

from realtime.core.replays import ReplayTurns

pytestmark = pytest.mark.timeout(10)


async def test_one_user_gets_at_most_its_turns_and_the_rest_wait() -> None:
    """Twenty reads of one user run two at a time; every one of them finishes."""
    turns, running, peak = ReplayTurns(per_user=2, total=16), 0, 0

    async def read() -> None:
        nonlocal running, peak
        async with turns.turn(7):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.wait_for(asyncio.gather(*(read() for _ in range(20))), 5)
    assert peak == 2
    assert turns.users() == 0


async def test_another_user_is_not_queued_behind_a_greedy_one() -> None:
    """While one user's turns are all taken, another user's read goes at once."""
    turns = ReplayTurns(per_user=2, total=16)
    release, both_held = asyncio.Event(), asyncio.Event()
    holding = 0

    async def hold() -> None:
        nonlocal holding
        async with turns.turn(1):
            holding += 1
            if holding == 2:
                both_held.set()
            await release.wait()

    greedy = [asyncio.create_task(hold()) for _ in range(10)]
    await asyncio.wait_for(both_held.wait(), 1)
    async with asyncio.timeout(1), turns.turn(2):
        pass
    release.set()
    await asyncio.gather(*greedy)


async def test_the_process_bound_holds_across_users() -> None:
    """With a total of 3, ten users' reads run at most three at a time."""
    turns, running, peak = ReplayTurns(per_user=2, total=3), 0, 0

    async def read(user_id: int) -> None:
        nonlocal running, peak
        async with turns.turn(user_id):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.wait_for(asyncio.gather(*(read(u) for u in range(10))), 5)
    assert peak == 3
