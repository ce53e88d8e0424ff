"""`GET /sse/orders/`: the order stream as Server-Sent Events
(docs/protocol.md), the HTTP I/O around `realtime.core.endpoint`.

Everything is decided before the stream starts, so a refusal is an HTTP
answer with a JSON body in the words a WebSocket close would use: 401 (the
token), 403 (the origin or a scope), 400 (a malformed `scopes`, `since` or
`Last-Event-ID`), 429 (the user's connection limit) and 503 (the server's
limit, a drain, the database away), the last two with `Retry-After`. Then
the connection runs as a WebSocket's does, with no client frames: the scopes
are the URL's, and `Last-Event-ID` replaces `since`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.auth.principal import Principal
from realtime.auth.scope import header, query_params
from realtime.codes import CloseCode, ErrorCode
from realtime.core import protocol
from realtime.core.connection import UNAVAILABLE, Admission, Close, Note
from realtime.core.endpoint import ANONYMOUS, Endpoint
from realtime.core.journal import Journal
from realtime.core.protocol import FrameError
from realtime.delivery.scopes import Scope
from realtime.observability.logging import LIFECYCLE_LOGGER
from realtime.sse import wire
from realtime.sse.sending import StreamSender

logger = logging.getLogger(LIFECYCLE_LOGGER)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Seconds a refused client should wait: a drain hands it to another worker soon.
RETRY_AFTER = 5
RETRY_AFTER_DRAIN = 1
# The reconnect delay the stream suggests to an EventSource (`retry:`).
RECONNECT_MS = 1000

HEADERS = [
    (b"content-type", wire.CONTENT_TYPE),
    (b"cache-control", b"no-cache"),
    # nginx and others buffer responses unless told not to.
    (b"x-accel-buffering", b"no"),
]


class Refused(Exception):
    """An answer given before the stream starts: its HTTP status, and the
    close code a WebSocket would have been given, with its reason."""

    def __init__(self, status: int, code: int, detail: str, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after

    def body(self) -> bytes:
        return json.dumps({"detail": self.detail, "code": self.code}).encode()


def http_refusal(close: Close, admission: Admission) -> Refused:
    """The HTTP answer for a close that refuses a connect."""
    code, reason = close.code, close.reason
    if code == CloseCode.UNAUTHORIZED:
        return Refused(401, code, reason)
    if code == CloseCode.FORBIDDEN:
        return Refused(403, code, reason)
    over = admission.over_limit
    if over is not None and over.per_user and reason == over.reason:
        return Refused(429, code, reason, RETRY_AFTER)
    wait = RETRY_AFTER_DRAIN if admission.draining else RETRY_AFTER
    return Refused(503, code, reason, wait)


def resume_point(scope: dict[str, Any], query: dict[str, str]) -> dict[str, str]:
    """The query the connection starts from: `Last-Event-ID`, when sent, is `since`."""
    last_event_id = header(scope, b"last-event-id")
    if last_event_id is None or not last_event_id.strip():
        return query
    since = protocol.parse_since(last_event_id.strip())
    if isinstance(since, FrameError):
        raise Refused(400, CloseCode.PROTOCOL_VIOLATION, "Last-Event-ID must be a seq")
    return {**query, "since": str(since)}


class OrdersStream(Endpoint):
    transport = "sse"
    journal = Journal("sse")

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}
        self.principal = ANONYMOUS
        self.hub = None
        self.started = False

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.scope = scope
        self.conn = self.new_connection()
        stream = scope.get("extensions", {}).get(wire.STREAM_WRITER)
        self.out = StreamSender(self.conn, send, None, self, self.journal)
        out = self.out
        try:
            try:
                if scope.get("method") != "GET":
                    raise Refused(405, CloseCode.PROTOCOL_VIOLATION, "use GET")
                principal, query = await self.admit_stream()
            except Refused as refused:
                await self.respond(send, refused)
                return
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            self.started = True
            retry = wire.retry(RECONNECT_MS)
            if stream is None:
                await send({"type": "http.response.body", "body": retry, "more_body": True})
            else:
                writer = stream()
                writer.write(retry)
                self.out = out = StreamSender(self.conn, send, writer, self, self.journal)
            await self.open(principal, query)
            while not out.closed:
                message = await receive()
                if message["type"] == "http.disconnect":
                    out.lost(CloseCode.ABNORMAL, "connection closed")
        except asyncio.CancelledError:
            draining = self.hub is not None and self.hub.draining
            out.lost(
                CloseCode.SERVICE_RESTART if draining else 1006,
                "server shutdown" if draining else "cancelled",
                "server",
            )
            raise
        except Exception:
            logger.exception("stream crashed conn=%s", self.conn.connection_id)
            out.crashed = True
            if self.started:
                await out.close_now(Close(CloseCode.INTERNAL_ERROR, "server error"))
            else:
                await self.respond(send, Refused(500, CloseCode.INTERNAL_ERROR, "server error"))
        finally:
            self.teardown()

    async def admit_stream(self) -> tuple[Principal, dict[str, str]]:
        """Everything a WebSocket connect checks, plus the URL's scopes, before
        anything is streamed."""
        principal, refused, admission = await self.admit()
        if refused is not None or principal is None:
            raise http_refusal(refused or Close(CloseCode.UNAUTHORIZED, "unauthorized"), admission)
        query = resume_point(self.scope, query_params(self.scope))
        scopes = protocol.parse_scopes(query.get("scopes"))
        since = protocol.parse_since(query.get("since"))
        for parsed in (scopes, since):
            if isinstance(parsed, FrameError):
                raise Refused(400, CloseCode.PROTOCOL_VIOLATION, parsed.detail)
        assert isinstance(scopes, list)
        self.principal = principal
        checked: dict[Scope, ErrorCode | None] = {}
        for scope in scopes:
            if scope.kind == "mine":
                continue
            try:
                answer = await self.scope_refusal(scope)
            except Exception as exc:
                note = Note("connect failed", (("error", type(exc).__name__),))
                self.journal.record(self.conn, note)
                raise Refused(503, CloseCode.TRY_AGAIN_LATER, UNAVAILABLE, RETRY_AFTER) from None
            if answer is ErrorCode.FORBIDDEN:
                raise Refused(403, CloseCode.FORBIDDEN, f"may not subscribe to {scope}")
            if answer is ErrorCode.NOT_FOUND:
                raise Refused(403, CloseCode.FORBIDDEN, f"no such order: {scope}")
            checked[scope] = answer
        self.checked = checked
        return principal, query

    async def respond(self, send: Send, refused: Refused) -> None:
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache")]
        if refused.retry_after:
            headers.append((b"retry-after", str(refused.retry_after).encode()))
        if refused.status == 405:
            headers.append((b"allow", b"GET"))
        self.out.lost(refused.code, refused.detail, "server")
        await send({"type": "http.response.start", "status": refused.status, "headers": headers})
        await send({"type": "http.response.body", "body": refused.body()})

    def tick(self, now: float) -> float | None:
        out = self.out
        if isinstance(out, StreamSender):
            out.check_drained(now)
        return super().tick(now)
