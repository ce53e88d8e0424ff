"""What a client does after each close code of DESIGN §2, free of I/O."""

from __future__ import annotations

from enum import Enum

# 1006 stands for "no close frame": a dropped TCP connection or a silent server.
ABNORMAL = 1006


class Action(Enum):
    STOP = "stop"
    QUICK = "quick"
    BACK_OFF = "back_off"


STOP_CODES = frozenset({1009, 4400, 4401, 4403})
QUICK_CODES = frozenset({1000, 1001, ABNORMAL, 1012, 4408, 4409})
BACK_OFF_CODES = frozenset({1011, 1013, 4429})

DESCRIPTIONS = {
    1000: "normal closure",
    1001: "going away",
    ABNORMAL: "connection lost",
    1009: "frame too large",
    1011: "server error",
    1012: "server restarting",
    1013: "server at its connection limit",
    4400: "repeated protocol violations",
    4401: "missing, invalid or expired token",
    4403: "forbidden",
    4408: "heartbeat timeout",
    4409: "slow consumer",
    4429: "rate limit exceeded",
}


def action_for(code: int | None) -> Action:
    """Stop on codes that retrying cannot fix, back off when the server asks to,
    and otherwise reconnect quickly (with jitter) and resume. A server closing
    with 1000/1001 while the client still wants updates means reconnect."""
    code = ABNORMAL if code is None else code
    if code in STOP_CODES:
        return Action.STOP
    if code in QUICK_CODES:
        return Action.QUICK
    return Action.BACK_OFF


def describe(code: int | None) -> str:
    code = ABNORMAL if code is None else code
    return DESCRIPTIONS.get(code, "unknown close code")
