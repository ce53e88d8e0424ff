"""daphne's WebSocket protocol with what the project needs on top
(docs/architecture.md): close codes 1011, 1012 and 1013 with their reasons
(autobahn takes only 1000 and 3000-4999 from an application, daphne drops
reasons), the frame-size limit on incoming frames only, reading paused while
the application is INBOUND_HIGH frames behind, a synchronous sender of ready
frames, no send queue until a write needs one, and nothing of the handshake
kept once the socket is open."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from autobahn.exception import Disconnected
from autobahn.websocket.types import ConnectionDeny
from daphne.ws_protocol import WebSocketProtocol

from realtime.daphne import internals

logger = logging.getLogger("realtime.ws")

# Frames waiting for a consumer before the protocol stops reading its socket,
# and the depth at which it reads again: a client sending faster than its
# consumer keeps up is held back by TCP instead of queueing without bound
# (daphne's queue has none) and taking the event loop from everyone else.
INBOUND_HIGH = 64
INBOUND_LOW = 16
INBOUND_POLL = 0.01
# Bytes read from one socket at a time: a flood of tiny frames is parsed in
# small slices, between which the event loop serves everyone else.
INBOUND_READ_BYTES = 4096
# A close frame has room for 123 bytes of reason.
MAX_REASON_BYTES = 123


class OrdersWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]
    reading_paused = False
    close_reason = ""
    # (status, headers, body) of a handshake the application refused.
    denial: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
    # Whether permessage-deflate was negotiated (known once open).
    compressing = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.bufferSize = INBOUND_READ_BYTES
        internals.drop_send_queue(self)

    def onConnect(self, request: Any) -> Any:
        # daphne decodes these as ASCII and would log a client's bad header
        # as an ERROR traceback before answering 500.
        for name, value in request.headers.items():
            if not name.isascii() or (
                name.lower() == "sec-websocket-protocol" and not value.isascii()
            ):
                logger.info(
                    "refused a handshake: non-ASCII %s header",
                    name.encode("ascii", "replace").decode(),
                )
                raise ConnectionDeny(int(HTTPStatus.BAD_REQUEST), "headers must be ASCII")  # type: ignore[no-untyped-call]
        if not request.path.isascii():
            logger.info("refused a handshake: non-ASCII path")
            raise ConnectionDeny(int(HTTPStatus.BAD_REQUEST), "the path must be ASCII")  # type: ignore[no-untyped-call]
        return super().onConnect(request)

    def onOpen(self) -> None:
        super().onOpen()
        if internals.compresses(self):
            self.compressing = True
        # The upgraded HTTP channel stays the transport's producer and holds
        # the HTTP request; with autobahn's copy and the scope's header list,
        # about 5 KB per connection. Hooks read headers before accept.
        self.transport.unregisterProducer()
        internals.release_handshake(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        super().onMessage(payload, isBinary)
        if not self.reading_paused and internals.inbound_depth(self) >= INBOUND_HIGH:
            self.reading_paused = True
            self.transport.pauseProducing()
            internals.event_loop().call_later(INBOUND_POLL, self.read_when_drained)

    def read_when_drained(self) -> None:
        if not self.transport.connected:
            return
        if internals.inbound_depth(self) > INBOUND_LOW:
            internals.event_loop().call_later(INBOUND_POLL, self.read_when_drained)
            return
        self.reading_paused = False
        self.transport.resumeProducing()

    def sendMessage(self, payload: bytes, isBinary: bool = False) -> None:
        # autobahn applies its message-size limit to what the server sends
        # too; WEBSOCKET_MAX_MESSAGE_BYTES bounds client frames only.
        limit: int = getattr(self, "maxMessagePayloadSize", 0)
        self.maxMessagePayloadSize = 0
        try:
            super().sendMessage(payload, isBinary)
        finally:
            self.maxMessagePayloadSize = limit

    def send_frame_now(self, frame: bytes) -> bool:
        """A ready text frame (realtime.ws.wire): what daphne's `websocket.send`
        does, minus the ASGI round trip and autobahn's per-frame work. False
        when this connection compresses; raises Disconnected once closing."""
        if self.compressing:
            return False
        if self.state != self.STATE_OPEN:
            raise Disconnected("the WebSocket is closing")
        self.sendData(frame)
        return True

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Every frame autobahn sends (pings, pongs, closes) and every ready
        # frame comes here: written at once when nothing is queued ahead, it
        # skips Twisted's register-then-write cycle per frame.
        if not sync and not chopsize:
            data = self.write_now(data)
            if not data:
                return
        else:
            internals.restore_send_queue(self)
        super().sendData(data, sync, chopsize)

    def write_now(self, data: bytes) -> bytes:
        """Whatever of `data` the socket does not take at once: all of it when
        something is queued ahead, on TLS, or once the socket is closing."""
        sent = internals.write_at_once(self, data)
        return data if not sent else data[sent:]

    def handle_reply(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "websocket.close":
            remember_reason(self, message)
        elif kind == "websocket.http.response.start":
            # The ASGI denial-response extension: the handshake is refused
            # with this status, these headers and the body that follows.
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            self.denial = (int(message["status"]), headers, b"")
            return
        elif kind == "websocket.http.response.body" and self.denial is not None:
            status, headers, body = self.denial
            self.denial = (status, headers, body + bytes(message.get("body", b"")))
            if not message.get("more_body"):
                self.serverReject()
            return
        super().handle_reply(message)

    def sendHttpErrorResponse(
        self, code: int, reason: str, responseHeaders: list[tuple[str, str]] | None = None
    ) -> None:
        if self.denial is None:
            super().sendHttpErrorResponse(code, reason, responseHeaders)
            return
        status, headers, body = self.denial
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        head = [f"HTTP/1.1 {status} {phrase}".encode()]
        head += [name + b": " + value for name, value in headers]
        head += [f"Content-Length: {len(body)}".encode(), b"Connection: close", b"", b""]
        self.sendData(b"\r\n".join(head) + body)

    def serverClose(self, code: int | None = None) -> None:
        server_close(self, code)


def share_options(protocol_class: type[OrdersWebSocketProtocol], factory: Any) -> None:
    """autobahn copies every option from the factory onto each protocol it
    builds, unless the protocol already has it: as class attributes they are
    shared, and each connection's attribute dict is about half the size. A
    callable option (perMessageCompressionAccept) must not become a method."""
    for name in internals.option_names(protocol_class):
        value = getattr(factory, name)
        setattr(protocol_class, name, staticmethod(value) if callable(value) else value)


def server_close(protocol: Any, code: int | None = None) -> None:
    """Close with any code the protocol defines (1011-1013 included) and the
    reason the application gave, cut to what a close frame holds."""
    code = 1000 if code is None else code
    reason = str(getattr(protocol, "close_reason", "")).encode()[:MAX_REASON_BYTES]
    text = reason.decode(errors="ignore")
    if not 1000 < code < 3000:
        protocol.sendClose(code=code, reason=text or None)
    elif protocol.state == protocol.STATE_OPEN:
        internals.send_close_frame(protocol, code, text.encode())


def adapt_stock_daphne() -> None:
    """Under plain `daphne`, which builds its own WebSocket protocol: the same
    close codes and reasons on the wire as `realtime serve` sends."""
    internals.wrap_websocket_close(remember_reason, server_close)


def remember_reason(protocol: Any, message: dict[str, Any]) -> None:
    if message.get("type") == "websocket.close":
        protocol.close_reason = str(message.get("reason") or "")
