"""The writer a streamed response (`/sse/orders/`) gets on daphne
(realtime/sse/sending.py): body bytes written without the ASGI round trip,
each as an HTTP/1.1 chunk straight to the socket when nothing waits ahead of
it (as a WebSocket's ready frames are), the request's producer registration
telling when Twisted's buffer is full (Twisted's public IPushProducer), and
the bytes written that the peer has not yet acknowledged (Twisted's buffer
plus the kernel's send queue)."""

from __future__ import annotations

import fcntl
import struct
import termios
from collections.abc import Callable
from typing import Any

from realtime.daphne import internals

# A stream ended while its peer takes nothing (a slow or dead client) is
# dropped after this long instead of holding its buffered bytes.
ABORT_AFTER = 2.0


class StreamWriter:
    __slots__ = ("_resumed", "_written", "paused", "reactor", "request")

    def __init__(self, reactor: Any, request: Any) -> None:
        self.reactor = reactor
        self.request = request
        self.paused = False
        self._written = 0
        self._resumed: Callable[[], None] | None = None
        request.registerProducer(self, True)

    # IPushProducer, called by Twisted

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        if self._resumed is not None:
            self._resumed()

    def stopProducing(self) -> None:
        self.paused = True

    # The stream's side

    def on_resume(self, callback: Callable[[], None]) -> None:
        self._resumed = callback

    def write(self, data: bytes) -> bool:
        request = self.request
        if request.finished or request.channel is None:
            raise ConnectionResetError("the stream's connection is closed")
        if not internals.chunked_body(request):
            # The head goes out with the first write, as Twisted builds it.
            request.write(data)
        else:
            framed = chunk(data)
            transport = request.transport
            sent = internals.send_at_once(transport, framed)
            if sent is None:
                transport.write(framed)
            elif sent < len(framed):
                transport.write(framed[sent:])
        self._written += len(data)
        return True

    def written(self) -> int:
        return self._written

    def unsent(self) -> int:
        transport = self.request.transport
        if transport is None:
            return 0
        return internals.buffered_bytes(transport) + kernel_unacknowledged(transport)

    def finish(self) -> None:
        request = self.request
        self._resumed = None
        if request.channel is None or request.finished:
            return
        request.unregisterProducer()
        transport = request.transport
        request.finish()
        if transport is not None and self.unsent():
            self.reactor.callLater(ABORT_AFTER, abort_if_stuck, transport)


class _LastChunk:
    __slots__ = ("data", "framed")

    def __init__(self) -> None:
        self.data = b""
        self.framed = b"0\r\n\r\n"


_last = _LastChunk()


def chunk(data: bytes) -> bytes:
    """`data` as one HTTP/1.1 chunk, built once for a broadcast: every stream
    writes the same event's bytes in a row."""
    if data is _last.data:
        return _last.framed
    framed = b"%x\r\n%s\r\n" % (len(data), data)
    _last.data, _last.framed = data, framed
    return framed


def abort_if_stuck(transport: Any) -> None:
    if transport.connected and internals.buffered_bytes(transport):
        transport.abortConnection()


def kernel_unacknowledged(transport: Any) -> int:
    """Bytes in the socket's send queue that the peer has not acknowledged
    (Linux's SIOCOUTQ); 0 where the system cannot say."""
    sock = internals.socket_of(transport)
    if sock is None:
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    unacked: int = struct.unpack("i", answer)[0]
    return unacked
