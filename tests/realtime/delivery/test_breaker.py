from __future__ import annotations

from realtime.delivery.breaker import BreakerState, CircuitBreaker


def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    """threshold failures open the breaker; while open, calls are refused."""
    breaker = CircuitBreaker(threshold=3, cooldown=5)
    for now in (0.0, 0.1, 0.2):
        assert breaker.allow(now)
        breaker.failed(now)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(1.0)


def test_one_probe_after_cooldown_then_closes_on_success() -> None:
    """After the cooldown exactly one probe passes; its success closes the breaker."""
    breaker = CircuitBreaker(threshold=1, cooldown=5)
    breaker.failed(0.0)
    assert breaker.allow(5.0)
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(5.1)
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(5.2)


def test_failed_probe_reopens() -> None:
    """A failed probe opens the breaker again for a fresh cooldown."""
    breaker = CircuitBreaker(threshold=1, cooldown=5)
    breaker.failed(0.0)
    assert breaker.allow(6.0)
    breaker.failed(6.0)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(10.0)
    assert breaker.allow(11.0)


def test_success_resets_the_failure_count() -> None:
    """Failures must be consecutive to open the breaker."""
    breaker = CircuitBreaker(threshold=2, cooldown=5)
    breaker.failed(0.0)
    breaker.succeeded()
    breaker.failed(1.0)
    assert breaker.state is BreakerState.CLOSED
