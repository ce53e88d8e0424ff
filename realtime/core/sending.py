"""safe_send for one connection, whatever its transport (docs/architecture.md):
what its `Connection` queued goes out in order, and sending never raises.

Ready bytes go at once through the server's synchronous writer while
nothing is queued ahead of them, the frames queued together in one write;
otherwise a short-lived writer task uses
ASGI `send`, so an idle connection holds no task. A failed send closes the
connection: as 1006 when the peer left, with 1011 for anything else (a server
bug, logged at ERROR). Each transport says how its items become bytes and
ASGI messages (`realtime.ws.sending`, `realtime.sse.sending`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

from realtime.core.connection import Close, Connection, Output
from realtime.core.journal import Journal
from realtime.delivery.events import Event

logger = logging.getLogger("realtime.ws")

Writer = Callable[[bytes], bool]
# Frames at most in one write of the synchronous writer.
BATCH = 32
AsgiSend = Callable[[dict[str, Any]], Awaitable[None]]


class Owner(Protocol):
    def apply_pending(self) -> None:
        """Carry out what the connection asked while its frames went out."""

    def teardown(self) -> None:
        """The connection is closed: release everything it holds."""


class Sender:
    """The transport-neutral part; subclasses give `encode`, `message` and
    `close_messages`, and say whether the writer takes the final close."""

    # Whether a Close can go through the synchronous writer too.
    writes_close: ClassVar[bool] = False
    # Exceptions that mean the peer has gone, not that a frame was bad.
    peer_gone: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    __slots__ = (
        "base_send",
        "close_code",
        "close_reason",
        "closed",
        "closed_by",
        "conn",
        "crashed",
        "journal",
        "messages_out",
        "owner",
        "send_now",
        "writer",
    )

    def __init__(
        self,
        conn: Connection,
        base_send: AsgiSend,
        send_now: Writer | None,
        owner: Owner,
        journal: Journal,
    ) -> None:
        self.conn = conn
        self.base_send = base_send
        self.send_now = send_now
        self.owner = owner
        self.journal = journal
        self.writer: asyncio.Task[None] | None = None
        self.closed = self.crashed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by = "network"
        self.messages_out = 0

    # What a transport says

    def encode(self, item: str | Event) -> bytes:
        """The bytes of a frame for the synchronous writer."""
        raise NotImplementedError

    def message(self, item: str | Event) -> dict[str, Any]:
        """The ASGI message that sends a frame."""
        raise NotImplementedError

    def close_messages(self, close: Close) -> list[dict[str, Any]]:
        """The ASGI messages that end the connection with `close`."""
        raise NotImplementedError

    def write_close(self, send_now: Writer, close: Close) -> None:
        """End the connection through the synchronous writer (when `writes_close`)."""
        raise NotImplementedError

    def held(self) -> bool:
        """True while the transport asks for nothing more to be written."""
        return False

    def flushed(self) -> None:
        """Called after each flush that left the outbox empty."""

    # The send path

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
            if self.closed or self.writer is not None:
                return
            if not outbox:
                self.flushed()
                return
            item = outbox[0]
            # A close goes even to a transport that pushes back: it ends the
            # connection, and whatever the peer will not take is dropped.
            if self.held() and not isinstance(item, Close):
                return
            send_now = self.send_now
            if send_now is None or (isinstance(item, Close) and not self.writes_close):
                self.writer = asyncio.create_task(self.drain())
                return
            conn.next_output()
            if isinstance(item, Close):
                self.close_directly(send_now, item)
                return
            # The frames queued behind it go in the same write: a resume's
            # replay costs one system call per BATCH frames, not one each.
            items = [item]
            while len(items) < BATCH and outbox and not isinstance(outbox[0], Close):
                items.append(outbox[0])
                conn.next_output()
            data = self.encode(item) if len(items) == 1 else b"".join(map(self.encode, items))
            if not self.send_direct(send_now, data, len(items)):
                self.send_now = None
                outbox[0:0] = items

    async def drain(self) -> None:
        try:
            while (item := self.conn.next_output()) is not None:
                if isinstance(item, Close):
                    await self.close_now(item)
                    return
                if not await self.safe_send(item):
                    return
                if self.conn.commands:
                    self.owner.apply_pending()
            self.flushed()
        finally:
            self.writer = None

    def send_direct(self, send_now: Writer, data: bytes, frames: int = 1) -> bool:
        """safe_send's synchronous path for `frames` frames in `data`; False
        when this connection cannot take ready bytes (a WebSocket that compresses)."""
        try:
            if not send_now(data):
                return False
        except Exception as exc:
            if self.failed(exc):
                self.send_now = None
                self.conn.outbox.clear()
                self.conn.close(1011, "send failed")
            return True
        self.sent_one(frames)
        return True

    async def safe_send(self, item: Output) -> bool:
        if self.closed:
            return False
        assert not isinstance(item, Close)
        try:
            await self.base_send(self.message(item))
        except Exception as exc:
            if self.failed(exc):
                await self.close_now(Close(1011, "send failed"))
            return False
        self.sent_one()
        return True

    def sent_one(self, frames: int = 1) -> None:
        self.messages_out += frames
        self.journal.sent.inc(frames)

    def failed(self, exc: Exception) -> bool:
        """Count and log a failed send. A peer that left closes the
        connection quietly; True says the frame, not the socket, failed, and
        the client is owed a 1011."""
        self.journal.send_failures.inc()
        self.journal.log("send failure", conn=self.conn.connection_id, error=type(exc).__name__)
        if isinstance(exc, self.peer_gone):
            self.lost(1006, "send failed")
            self.owner.teardown()
            return False
        logger.error("send failed conn=%s", self.conn.connection_id, exc_info=exc)
        self.crashed = True
        return True

    def close_directly(self, send_now: Writer, close: Close) -> None:
        if self.closed:
            return
        self.lost(close.code, close.reason, "server")
        try:
            self.write_close(send_now, close)
        except Exception as exc:
            self.journal.log("send failure", conn=self.conn.connection_id, error=type(exc).__name__)
        self.owner.teardown()

    async def close_now(self, close: Close) -> None:
        if self.closed:
            return
        self.lost(close.code, close.reason, "server")
        try:
            for message in self.close_messages(close):
                await self.base_send(message)
        except Exception as exc:
            self.journal.log("send failure", conn=self.conn.connection_id, error=type(exc).__name__)
        self.owner.teardown()
