"""Wire protocol v1 (docs/protocol.md), free of I/O.

Client frames are parsed into small immutable values or a `FrameError`; server
frames are built as dicts and encoded once with `encode`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from realtime.codes import ErrorCode
from realtime.delivery.scopes import Scope

PROTOCOL_VERSION = 1
MAX_REF_LENGTH = 128


Ref = str | int | None


@dataclass(frozen=True)
class Subscribe:
    scope: Scope
    ref: Ref = None
    since: int | None = None


@dataclass(frozen=True)
class Unsubscribe:
    scope: Scope
    ref: Ref = None


@dataclass(frozen=True)
class Resume:
    since: int
    ref: Ref = None


@dataclass(frozen=True)
class Heartbeat:
    ts: float
    ref: Ref = None


@dataclass(frozen=True)
class HeartbeatAck:
    ts: float | None
    cursor: int | None
    ref: Ref = None


@dataclass(frozen=True)
class Auth:
    """A fresh token for the same user, replacing the connection's."""

    token: str
    ref: Ref = None


ClientFrame = Subscribe | Unsubscribe | Resume | Heartbeat | HeartbeatAck | Auth
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class FrameError:
    """A client frame the server refuses, answered with an `error` frame."""

    code: ErrorCode
    detail: str
    ref: Ref = None


def parse_client_frame(text: str) -> ClientFrame | FrameError:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return FrameError(ErrorCode.BAD_JSON, "frame is not valid JSON")
    if not isinstance(data, dict):
        return FrameError(ErrorCode.BAD_MESSAGE, "frame must be a JSON object")
    ref = data.get("ref")
    if ref is not None and not _valid_ref(ref):
        return FrameError(
            ErrorCode.BAD_MESSAGE, f"ref must be a string of at most {MAX_REF_LENGTH} characters"
        )
    kind = data.get("type")
    if not isinstance(kind, str):
        return FrameError(ErrorCode.BAD_MESSAGE, "frame needs a string 'type'", ref)
    parser = _PARSERS.get(kind)
    if parser is None:
        return FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown type {kind[:40]!r}", ref)
    return parser(data, ref)


def _valid_ref(ref: object) -> bool:
    if isinstance(ref, bool):
        return False
    if isinstance(ref, int):
        return abs(ref) < 2**53
    return isinstance(ref, str) and len(ref) <= MAX_REF_LENGTH


def _seq(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    as_float = float(value) if abs(value) < 1e300 else math.inf
    return as_float if math.isfinite(as_float) else None


def _parse_scoped(data: dict[str, Any], ref: Ref) -> tuple[Scope | None, FrameError | None]:
    scope = Scope.parse(data.get("scope"))
    if scope is None:
        return None, FrameError(
            ErrorCode.BAD_MESSAGE, "scope must be 'mine', 'all' or 'order:<id>'", ref
        )
    return scope, None


def _parse_subscribe(data: dict[str, Any], ref: Ref) -> ClientFrame | FrameError:
    scope, error = _parse_scoped(data, ref)
    if error is not None:
        return error
    assert scope is not None
    if data.get("since") is None:
        return Subscribe(scope, ref)
    since = _seq(data["since"])
    if since is None:
        return FrameError(ErrorCode.BAD_MESSAGE, "since must be a non-negative integer", ref)
    return Subscribe(scope, ref, since)


def _parse_unsubscribe(data: dict[str, Any], ref: Ref) -> ClientFrame | FrameError:
    scope, error = _parse_scoped(data, ref)
    return error or Unsubscribe(scope, ref)  # type: ignore[arg-type]


def _parse_resume(data: dict[str, Any], ref: Ref) -> ClientFrame | FrameError:
    since = _seq(data.get("since"))
    if since is None:
        return FrameError(ErrorCode.BAD_MESSAGE, "since must be a non-negative integer", ref)
    return Resume(since, ref)


def _parse_heartbeat(data: dict[str, Any], ref: Ref) -> ClientFrame | FrameError:
    ts = _number(data.get("ts", 0))
    if ts is None:
        return FrameError(ErrorCode.BAD_MESSAGE, "ts must be a finite number", ref)
    return Heartbeat(ts, ref)


def _parse_heartbeat_ack(data: dict[str, Any], ref: Ref) -> ClientFrame | FrameError:
    ts = _number(data["ts"]) if "ts" in data else None
    if "ts" in data and ts is None:
        return FrameError(ErrorCode.BAD_MESSAGE, "ts must be a finite number", ref)
    cursor = _seq(data["cursor"]) if "cursor" in data else None
    if "cursor" in data and cursor is None:
        return FrameError(ErrorCode.BAD_MESSAGE, "cursor must be a non-negative integer", ref)
    return HeartbeatAck(ts, cursor, ref)


def _parse_auth(data: dict[str, Any], ref: Ref) -> ClientFrame | FrameError:
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return FrameError(ErrorCode.BAD_MESSAGE, "token must be a non-empty string", ref)
    return Auth(token, ref)


_PARSERS = {
    "auth": _parse_auth,
    "subscribe": _parse_subscribe,
    "unsubscribe": _parse_unsubscribe,
    "resume": _parse_resume,
    "heartbeat": _parse_heartbeat,
    "heartbeat_ack": _parse_heartbeat_ack,
}


def parse_since(raw: str | None) -> int | FrameError | None:
    """The `since` query parameter: absent, a seq, or an error."""
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return FrameError(ErrorCode.BAD_MESSAGE, "since must be a non-negative integer")


MAX_URL_SCOPES = 32


def parse_scopes(raw: str | None) -> list[Scope] | FrameError:
    """The `scopes` query parameter: comma-separated scopes (`mine` is implied)."""
    if not raw:
        return []
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if len(names) > MAX_URL_SCOPES:
        return FrameError(ErrorCode.BAD_MESSAGE, f"at most {MAX_URL_SCOPES} scopes in the URL")
    scopes: list[Scope] = []
    for name in names:
        scope = Scope.parse(name)
        if scope is None:
            return FrameError(
                ErrorCode.BAD_MESSAGE,
                "scopes must be 'mine', 'all' or 'order:<id>', comma-separated",
            )
        if scope not in scopes:
            scopes.append(scope)
    return scopes


def encode(frame: dict[str, Any]) -> str:
    # ASCII escapes make every frame sendable: text that slipped past input
    # checks (a lone surrogate, say) cannot fail the UTF-8 encoding at send.
    return json.dumps(frame, separators=(",", ":"))


def _with_ref(frame: dict[str, Any], ref: Ref) -> dict[str, Any]:
    if ref is not None:
        frame["ref"] = ref
    return frame


def welcome(
    *,
    connection_id: str,
    user: str,
    heartbeat_interval: float,
    heartbeat_timeout: float,
    cursor: int,
    max_lag: int,
    expires_at: float | None,
    worker: int,
) -> dict[str, Any]:
    return {
        "type": "welcome",
        "connection_id": connection_id,
        "user": user,
        "heartbeat_interval": heartbeat_interval,
        "heartbeat_timeout": heartbeat_timeout,
        "cursor": cursor,
        "max_lag": max_lag,
        "expires_at": expires_at,
        "worker": worker,
        "protocol": PROTOCOL_VERSION,
    }


def authenticated(expires_at: float | None, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "authenticated", "expires_at": expires_at}, ref)


def heartbeat(ts: float, cursor: int) -> dict[str, Any]:
    return {"type": "heartbeat", "ts": ts, "cursor": cursor}


def heartbeat_ack(ts: float, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "heartbeat_ack", "ts": ts}, ref)


def subscribed(
    scope: Scope, ref: Ref, replay: tuple[int, int, int] | None = None
) -> dict[str, Any]:
    """`replay` is (since, replayed, cursor) after a subscribe with `since`."""
    frame: dict[str, Any] = {"type": "subscribed", "scope": str(scope)}
    if replay is not None:
        frame["since"], frame["replayed"], frame["cursor"] = replay
    return _with_ref(frame, ref)


def unsubscribed(scope: Scope, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "unsubscribed", "scope": str(scope)}, ref)


def resumed(since: int, replayed: int, cursor: int, ref: Ref) -> dict[str, Any]:
    return _with_ref(
        {"type": "resumed", "since": since, "replayed": replayed, "cursor": cursor}, ref
    )


def resync_required(reason: str, cursor: int, ref: Ref) -> dict[str, Any]:
    return _with_ref({"type": "resync_required", "reason": reason, "cursor": cursor}, ref)


def error(code: ErrorCode, detail: str, ref: Ref = None) -> dict[str, Any]:
    return _with_ref({"type": "error", "code": str(code), "detail": detail}, ref)


def event_frame(
    kind: str,
    seq: int,
    subject: int,
    version: int,
    payload: dict[str, Any],
    published_at: float,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """An event as clients get it: `order.update` carries the payload as its
    `order` (with `id` and `version`); any other type carries `subject`,
    `version` and `payload`."""
    if kind == "order.update":
        return {
            "type": kind,
            "seq": seq,
            "order": payload,
            "published_at": published_at,
            "meta": meta,
        }
    return {
        "type": kind,
        "seq": seq,
        "subject": subject,
        "version": version,
        "payload": payload,
        "published_at": published_at,
        "meta": meta,
    }
