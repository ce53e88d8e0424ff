"""safe_send for one connection (docs/architecture.md): what its `Connection`
queued goes out in order, and sending never raises into the consumer.

Ready frames go at once through the server's synchronous frame sender while
nothing is queued ahead of them; otherwise, and for the final close, a
short-lived writer task uses ASGI `send`, so an idle connection holds no
task. A failed send closes the connection: as 1006 when the peer left, with
1011 for anything else (a server bug, logged at ERROR).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from autobahn.exception import Disconnected

from realtime.codes import CloseCode
from realtime.delivery.events import Event
from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER, log_event
from realtime.ws import frames
from realtime.ws.connection import Close, Connection
from realtime.ws.wire import text_frame

logger = logging.getLogger(LIFECYCLE_LOGGER)

FrameSender = Callable[[bytes], bool]


class Owner(Protocol):
    def apply_pending(self) -> None:
        """Carry out what the connection asked while its frames went out."""

    def teardown(self) -> None:
        """The connection is closed: release everything it holds."""


class Sender:
    __slots__ = (
        "base_send",
        "close_code",
        "close_reason",
        "closed",
        "closed_by",
        "conn",
        "crashed",
        "messages_out",
        "owner",
        "send_now",
        "writer",
    )

    def __init__(
        self,
        conn: Connection,
        base_send: Callable[[dict[str, Any]], Awaitable[None]],
        send_now: FrameSender | None,
        owner: Owner,
    ) -> None:
        self.conn = conn
        self.base_send = base_send
        self.send_now = send_now
        self.owner = owner
        self.writer: asyncio.Task[None] | None = None
        self.closed = self.crashed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by = "network"
        self.messages_out = 0

    def lost(self, code: int, reason: str, by: str = "network") -> None:
        """The connection ended (`by` the client, the server or the network):
        nothing more is sent."""
        if not self.closed:
            self.closed = True
            self.close_code, self.close_reason, self.closed_by = code, reason, by

    def flush(self) -> None:
        conn = self.conn
        outbox = conn.outbox
        for _ in range(1_000_000):
            if conn.commands:
                self.owner.apply_pending()
            if self.closed or not outbox or self.writer is not None:
                return
            item = outbox[0]
            send_now = self.send_now
            if send_now is None or isinstance(item, Close):
                self.writer = asyncio.create_task(self.drain())
                return
            conn.next_output()
            frame = frames.wire(item) if isinstance(item, Event) else text_frame(item.encode())
            if not self.send_direct(send_now, frame):
                self.send_now = None
                outbox.insert(0, item)

    async def drain(self) -> None:
        try:
            while (item := self.conn.next_output()) is not None:
                if isinstance(item, Close):
                    await self.close_now(item)
                    return
                text = frames.payload(frames.wire(item)) if isinstance(item, Event) else item
                if not await self.safe_send(text):
                    return
                if self.conn.commands:
                    self.owner.apply_pending()
        finally:
            self.writer = None

    def send_direct(self, send_now: FrameSender, frame: bytes) -> bool:
        """safe_send's synchronous path; False when this connection cannot
        take ready frames (it compresses)."""
        try:
            if not send_now(frame):
                return False
        except Exception as exc:
            if self.failed(exc):
                self.send_now = None
                self.conn.outbox.clear()
                self.conn.close(CloseCode.INTERNAL_ERROR, "send failed")
            return True
        self.sent_one()
        return True

    async def safe_send(self, text: str) -> bool:
        if self.closed:
            return False
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except Exception as exc:
            if self.failed(exc):
                await self.close_now(Close(CloseCode.INTERNAL_ERROR, "send failed"))
            return False
        self.sent_one()
        return True

    def sent_one(self) -> None:
        self.messages_out += 1
        metrics.MESSAGES_SENT.inc()

    def failed(self, exc: Exception) -> bool:
        """Count and log a failed send. A peer that left (an OSError, or
        autobahn's Disconnected after a 1002 or 1007, before the disconnect
        reaches the consumer) closes the connection quietly; True says the
        frame, not the socket, failed, and the client is owed a 1011."""
        metrics.SEND_FAILURES.inc()
        log_event(logger, "send failure", conn=self.conn.connection_id, error=type(exc).__name__)
        if isinstance(exc, OSError | Disconnected):
            self.lost(1006, "send failed")
            self.owner.teardown()
            return False
        logger.error("send failed conn=%s", self.conn.connection_id, exc_info=exc)
        self.crashed = True
        return True

    async def close_now(self, close: Close) -> None:
        if self.closed:
            return
        self.lost(close.code, close.reason, "server")
        try:
            # autobahn refuses an IntEnum: it checks type(code) is int.
            await self.base_send(
                {"type": "websocket.close", "code": int(close.code), "reason": close.reason}
            )
        except Exception as exc:
            log_event(
                logger, "send failure", conn=self.conn.connection_id, error=type(exc).__name__
            )
        self.owner.teardown()
