from __future__ import annotations

from realtime.core.limits import ConnectionLimits, Limit, Strikes


def test_strikes_pass_the_limit_on_the_next_one() -> None:
    """strike() says True only once the count exceeds the limit."""
    strikes = Strikes(limit=2)
    assert [strikes.strike() for _ in range(3)] == [False, False, True]


def test_connection_limits() -> None:
    """Total and per-user limits each refuse with a reason, saying whose limit bit."""
    limits = ConnectionLimits(max_total=3, max_per_user=2)
    assert limits.refusal(total=2, for_user=1) is None
    assert limits.refusal(total=3, for_user=0) == Limit("server at its connection limit (3)", False)
    assert limits.refusal(total=1, for_user=2) == Limit("user at its connection limit (2)", True)


def test_the_per_user_limit_is_shared_among_workers() -> None:
    """20 per user over 3 workers: 7 in each, and the refusal says so."""
    limits = ConnectionLimits(max_total=100, max_per_user=20, workers=3)
    assert limits.refusal(total=10, for_user=6) is None
    assert limits.refusal(total=10, for_user=7) == Limit(
        "user at its connection limit (7 of 20 over 3 workers)", True
    )
