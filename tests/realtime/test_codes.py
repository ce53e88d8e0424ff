from __future__ import annotations

from realtime.codes import DESCRIPTIONS, CloseCode, describe


def test_every_close_code_is_described_once() -> None:
    """Each close code has one description, shared by client and log summary."""
    assert set(DESCRIPTIONS) == set(CloseCode)
    assert describe(CloseCode.TRY_AGAIN_LATER) == "try again later"


def test_unknown_and_missing_codes_are_described() -> None:
    """A code outside the table, or no close frame at all, still reads as words."""
    assert describe(4999) == "unknown close code"
    assert describe(None) == "connection lost"
