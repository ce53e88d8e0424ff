"""safe_send for a Server-Sent Events stream (realtime/core/sending.py).

On daphne the stream writes through the server's writer for streamed
responses (`realtime.sse.wire.STREAM_WRITER`, `realtime/daphne/streams.py`),
which also says when the transport's buffer is full and how many written
bytes the peer has not yet taken. Elsewhere it uses ASGI
`http.response.body` with `more_body`.

SSE has no client frames, so the send path stands in for them: everything
handed to a transport that is not asking for a pause counts as the
client's ack (flow control), and bytes the peer's TCP has acknowledged count
as life (the heartbeat timeout). A stream whose writes stop draining is
closed within `heartbeat_timeout` (4408), one that falls `max_lag` events
behind with 4409, as a WebSocket would be.
"""

from __future__ import annotations

from typing import Any, Protocol

from realtime.core.connection import Close, Connection
from realtime.core.journal import Journal
from realtime.core.sending import AsgiSend, Owner, Sender, Writer
from realtime.delivery.events import Event
from realtime.sse import wire


class Stream(Protocol):
    """What a server's writer for one streamed response offers."""

    paused: bool

    def write(self, data: bytes) -> bool:
        """Write at once; raises OSError once the connection is gone."""

    def finish(self) -> None:
        """End the response."""

    def unsent(self) -> int:
        """Bytes written that the peer has not yet acknowledged."""

    def written(self) -> int:
        """Bytes written so far."""

    def on_resume(self, callback: Any) -> None:
        """Call `callback()` when the transport takes bytes again after a pause."""


class StreamSender(Sender):
    writes_close = True

    __slots__ = ("mark", "stream")

    def __init__(
        self,
        conn: Connection,
        base_send: AsgiSend,
        stream: Stream | None,
        owner: Owner,
        journal: Journal,
    ) -> None:
        send_now: Writer | None = stream.write if stream is not None else None
        super().__init__(conn, base_send, send_now, owner, journal)
        self.stream = stream
        # Bytes written as of the last drain check.
        self.mark: int | None = None
        if stream is not None:
            stream.on_resume(self.flush)

    def encode(self, item: str | Event) -> bytes:
        return wire.event_frame(item) if isinstance(item, Event) else wire.frame(item)

    def message(self, item: str | Event) -> dict[str, Any]:
        return {"type": "http.response.body", "body": self.encode(item), "more_body": True}

    def close_messages(self, close: Close) -> list[dict[str, Any]]:
        body = wire.close(close.code, close.reason)
        return [{"type": "http.response.body", "body": body, "more_body": False}]

    def write_close(self, send_now: Writer, close: Close) -> None:
        assert self.stream is not None
        send_now(wire.close(close.code, close.reason))
        self.stream.finish()

    def held(self) -> bool:
        return self.stream is not None and self.stream.paused

    def flushed(self) -> None:
        # Handed to a transport that is not pushing back: taken, as far as
        # flow control goes.
        conn = self.conn
        conn.acknowledged(conn.cursor)

    def check_drained(self, now: float) -> None:
        """Before each heartbeat tick: the peer's TCP acknowledged everything
        written by the last check (or everything at all) counts as life."""
        stream = self.stream
        if stream is None or self.closed:
            # Without the server's writer nothing says the peer is gone: the
            # server's own timeouts and its ASGI `send` must.
            self.conn.alive(now)
            return
        unsent, written = stream.unsent(), stream.written()
        mark = self.mark
        if unsent == 0 or (mark is not None and written - unsent >= mark):
            self.conn.alive(now)
            self.mark = written
        elif mark is None:
            self.mark = written
