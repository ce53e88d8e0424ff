"""Close codes and error codes of protocol v1 (docs/protocol.md), defined once
for the server, the Python client and `realtime logs summary`."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    # No close frame at all: a dropped TCP connection or a silent peer.
    ABNORMAL = 1006
    TOO_LARGE = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    PROTOCOL_VIOLATION = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    HEARTBEAT_TIMEOUT = 4408
    SLOW_CONSUMER = 4409
    RATE_LIMITED = 4429


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    # A backing service (the database) is away; nothing changed; retry.
    UNAVAILABLE = "unavailable"


DESCRIPTIONS: dict[int, str] = {
    CloseCode.NORMAL: "normal closure",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.ABNORMAL: "connection lost",
    CloseCode.TOO_LARGE: "frame too large",
    CloseCode.INTERNAL_ERROR: "server error",
    CloseCode.SERVICE_RESTART: "server restarting",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.PROTOCOL_VIOLATION: "repeated protocol violations",
    CloseCode.UNAUTHORIZED: "missing, invalid or expired token",
    CloseCode.FORBIDDEN: "forbidden",
    CloseCode.HEARTBEAT_TIMEOUT: "heartbeat timeout",
    CloseCode.SLOW_CONSUMER: "slow consumer",
    CloseCode.RATE_LIMITED: "rate limit exceeded",
}


def describe(code: int | None) -> str:
    code = CloseCode.ABNORMAL if code is None else code
    return DESCRIPTIONS.get(code, "unknown close code")
