from __future__ import annotations

import pytest

from realtime.client.policy import Action, action_for, describe


@pytest.mark.parametrize("code", [4401, 4403, 4400, 1009])
def test_codes_retrying_cannot_fix_stop_the_client(code: int) -> None:
    """4401, 4403, 4400 and 1009 are never retried as is."""
    assert action_for(code) is Action.STOP


@pytest.mark.parametrize("code", [1013, 4429, 1011])
def test_overload_codes_back_off(code: int) -> None:
    """1013 and 4429 (and a server error) back off."""
    assert action_for(code) is Action.BACK_OFF


@pytest.mark.parametrize("code", [1006, 1012, 4408, 4409, 1000, 1001, None])
def test_transient_closes_reconnect_quickly_and_resume(code: int | None) -> None:
    """Drops, restarts, heartbeat timeouts and slow-consumer closes reconnect at once."""
    assert action_for(code) is Action.QUICK


def test_unknown_codes_back_off_and_are_described() -> None:
    """A code outside the table is treated cautiously."""
    assert action_for(4999) is Action.BACK_OFF
    assert describe(4999) == "unknown close code"
    assert describe(None) == "connection lost"
