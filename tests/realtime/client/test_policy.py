from __future__ import annotations

import pytest

from realtime.client.policy import Action, action_for, handshake_refusal, stream_refusal


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


def test_unknown_codes_back_off() -> None:
    """A code outside the table is treated cautiously."""
    assert action_for(4999) is Action.BACK_OFF


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_handshake_refused_by_an_overloaded_server_backs_off(status: int) -> None:
    """HTTP 5xx and 429 at the handshake stand for 1013: back off and retry."""
    assert handshake_refusal(status, 0)[0] == 1013
    assert action_for(handshake_refusal(status, 10)[0]) is Action.BACK_OFF


def test_a_handshake_403_is_retried_a_bounded_number_of_times() -> None:
    """A 403 backs off for the first refusals in a row, then stops the client."""
    codes = [handshake_refusal(403, tries)[0] for tries in range(4)]
    assert codes == [1013, 1013, 1013, 4403]
    assert handshake_refusal(404, 0)[0] == 4403


def test_a_stream_refusal_in_the_servers_words_is_its_close_code() -> None:
    """The server's JSON `code` decides; a refusal without one reads as a refused handshake."""
    assert stream_refusal(401, 4401, "token expired", 0) == (4401, "token expired")
    assert stream_refusal(429, 1013, "user at its connection limit (20)", 0)[0] == 1013
    assert stream_refusal(502, None, "bad gateway", 0)[0] == 1013
    assert stream_refusal(403, None, "blocked", 3)[0] == 4403
