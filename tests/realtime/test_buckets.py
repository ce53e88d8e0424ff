from __future__ import annotations

from realtime.buckets import TokenBucket


def test_bucket_allows_a_burst_then_the_rate() -> None:
    """A full bucket allows 2x rate at once, then refills at the rate."""
    bucket = TokenBucket.full(rate=10, now=0.0)
    assert sum(bucket.allow(0.0) for _ in range(25)) == 20
    assert not bucket.allow(0.0)
    assert bucket.allow(0.1)
    assert not bucket.allow(0.1)


def test_retry_after_is_the_whole_seconds_until_the_next_token() -> None:
    """An empty bucket at 0.5/s says 2 s; one refilled halfway says 1 s."""
    bucket = TokenBucket.full(rate=0.5, now=0.0, burst_factor=2.0)
    assert bucket.allow(0.0)
    assert not bucket.allow(0.0)
    assert bucket.retry_after() == 2
    bucket.allow(1.0)
    assert bucket.retry_after() == 1
