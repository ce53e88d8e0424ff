from __future__ import annotations

import random
import statistics

import pytest

from realtime.client.backoff import BACKOFF_FLOOR, Backoff


def test_each_delay_stays_within_its_exponential_ceiling() -> None:
    """Delay n lies in [0, min(cap, base * 2**n)] and the ceiling stops at the cap."""
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    for attempt in range(40):
        delay = backoff.next_delay()
        assert 0 <= delay <= min(8.0, 0.5 * 2**attempt)
    assert backoff.ceiling(1000) == 8.0


def test_full_jitter_spreads_delays_over_the_whole_window() -> None:
    """Many clients at the same attempt spread uniformly over [0, ceiling], not bunched."""
    rng = random.Random(7)
    delays = [Backoff(base=1.0, cap=30.0, rng=rng, attempt=3).next_delay() for _ in range(5000)]
    assert min(delays) < 0.2
    assert max(delays) > 7.8
    assert statistics.mean(delays) == pytest.approx(4.0, abs=0.2)
    # A uniform spread puts about a tenth of the clients in each tenth of the window.
    tenths = [sum(1 for d in delays if i * 0.8 <= d < (i + 1) * 0.8) for i in range(10)]
    assert all(400 <= n <= 600 for n in tenths), tenths


def test_back_off_starts_from_a_floor_and_reset_returns_to_quick() -> None:
    """A server that says "come back later" gets a wider window; a healthy connection resets it."""
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(3))
    backoff.back_off()
    assert backoff.attempt == BACKOFF_FLOOR + 1
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() <= 0.5


def test_nonsensical_bounds_are_refused() -> None:
    """base must be positive and no larger than cap."""
    with pytest.raises(ValueError, match="0 < base <= cap"):
        Backoff(base=0, cap=1)
    with pytest.raises(ValueError, match="0 < base <= cap"):
        Backoff(base=2, cap=1)
