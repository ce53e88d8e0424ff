"""What a client does after each close code of docs/protocol.md, free of I/O."""

from __future__ import annotations

from enum import Enum

from realtime.codes import CloseCode

ABNORMAL = CloseCode.ABNORMAL


class Action(Enum):
    STOP = "stop"
    QUICK = "quick"
    BACK_OFF = "back_off"


STOP_CODES = frozenset(
    {
        CloseCode.TOO_LARGE,
        CloseCode.PROTOCOL_VIOLATION,
        CloseCode.UNAUTHORIZED,
        CloseCode.FORBIDDEN,
    }
)
QUICK_CODES = frozenset(
    {
        CloseCode.NORMAL,
        CloseCode.GOING_AWAY,
        ABNORMAL,
        CloseCode.SERVICE_RESTART,
        CloseCode.HEARTBEAT_TIMEOUT,
        CloseCode.SLOW_CONSUMER,
    }
)
# A handshake refused with HTTP 403 is retried this many times in a row
# before the client gives up: a proxy or a server in trouble may answer 403
# for a moment, and only the server's own 4403 says "forbidden" for sure.
HANDSHAKE_403_TRIES = 3
KNOWN_CODES = frozenset(int(code) for code in CloseCode)


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


def handshake_refusal(status: int, refused_403s: int) -> tuple[int, str]:
    """The close code a refused handshake stands for. A 5xx or 429 backs off
    and retries; a 403 too, until HANDSHAKE_403_TRIES refusals in a row; any
    other 4xx is a client mistake retrying cannot fix."""
    reason = f"handshake refused with HTTP {status}"
    if status >= 500 or status == 429:
        return CloseCode.TRY_AGAIN_LATER, reason
    if status == 403 and refused_403s < HANDSHAKE_403_TRIES:
        return CloseCode.TRY_AGAIN_LATER, reason
    return CloseCode.FORBIDDEN, reason


def stream_refusal(
    status: int, code: int | None, detail: str, refused_403s: int
) -> tuple[int, str]:
    """The close code a stream answered with an HTTP error stands for: the
    server's own refusal says it in its body (`code`, the WebSocket close
    code); anything else (a proxy, a wrong URL) is read as a refused
    handshake."""
    if code is not None and code in KNOWN_CODES:
        return code, detail or f"stream refused with HTTP {status}"
    return handshake_refusal(status, refused_403s)
