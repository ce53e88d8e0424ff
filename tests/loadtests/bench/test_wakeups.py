"""The wake-up sleeper behind `python -m loadtests.bench.wakeups`."""

from __future__ import annotations

import pytest

from loadtests.bench.wakeups import late_wakeups

pytestmark = pytest.mark.timeout(30)


def test_every_sleep_counts_when_any_delay_is_late() -> None:
    """With no allowance every 1 ms sleep is reported, each at least 1 ms long."""
    found = late_wakeups(0.05, late=0.0)
    assert 1 <= len(found) <= 51
    assert all(took >= 0.001 for took in found)


def test_no_sleep_counts_past_an_allowance_longer_than_the_run() -> None:
    """A wake-up is late only past the allowance: none reaches ten seconds."""
    assert late_wakeups(0.05, late=10.0) == []
