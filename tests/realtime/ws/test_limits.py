from __future__ import annotations

from realtime.ws.limits import ConnectionLimits, Strikes, TokenBucket


def test_bucket_allows_a_burst_then_the_rate() -> None:
    """A full bucket allows 2x rate at once, then refills at the rate."""
    bucket = TokenBucket.full(rate=10, now=0.0)
    assert sum(bucket.allow(0.0) for _ in range(25)) == 20
    assert not bucket.allow(0.0)
    assert bucket.allow(0.1)
    assert not bucket.allow(0.1)


def test_strikes_pass_the_limit_on_the_next_one() -> None:
    """strike() says True only once the count exceeds the limit."""
    strikes = Strikes(limit=2)
    assert [strikes.strike() for _ in range(3)] == [False, False, True]


def test_connection_limits() -> None:
    """Total and per-user limits each refuse with a reason."""
    limits = ConnectionLimits(max_total=3, max_per_user=2)
    assert limits.refusal(total=2, for_user=1) is None
    assert limits.refusal(total=3, for_user=0) == "server at its connection limit (3)"
    assert limits.refusal(total=1, for_user=2) == "user at its connection limit (2)"
