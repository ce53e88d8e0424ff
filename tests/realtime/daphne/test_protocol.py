"""The project's daphne protocol on a stand-in transport: ready frames written
straight to the socket, partial writes, reading paused and resumed, and close
codes with their reasons."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from autobahn.exception import Disconnected

from realtime.daphne import internals
from realtime.daphne.protocol import INBOUND_HIGH, INBOUND_LOW, OrdersWebSocketProtocol
from realtime.daphne.server import Inbox
from realtime.ws.wire import text_frame

pytestmark = pytest.mark.timeout(30)


class Socket:
    """Takes at most `room` bytes per send, as a full kernel buffer does."""

    def __init__(self, room: int = 1 << 20) -> None:
        self.room = room
        self.received = b""

    def send(self, data: bytes) -> int:
        taken = data[: self.room]
        self.received += taken
        return len(taken)


class Transport:
    """What Twisted's TCP transport offers the protocol: its buffers, its socket."""

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self._tempDataBuffer: list[bytes] = []
        self.dataBuffer = b""
        self.disconnecting = False
        self.connected = True
        self.paused = False

    def write(self, data: bytes) -> None:
        self._tempDataBuffer.append(data)

    def queued(self) -> bytes:
        return b"".join(self._tempDataBuffer)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False


def protocol(socket: Socket | None = None) -> tuple[OrdersWebSocketProtocol, Transport]:
    proto = OrdersWebSocketProtocol()
    transport = Transport(socket or Socket())
    proto.transport = transport
    proto.state = proto.STATE_OPEN
    proto._perMessageCompress = None
    proto.send_queue = collections.deque()
    proto.logOctets = False
    proto.trafficStats = type("Stats", (), {"outgoingOctetsWireLevel": 0})()
    proto.muted = False
    proto.client_addr = ["127.0.0.1", 1]
    return proto, transport


def test_a_ready_frame_goes_straight_to_the_socket() -> None:
    """send_frame_now writes the frame's exact bytes, with nothing left for Twisted."""
    proto, transport = protocol()
    frame = text_frame(b'{"type":"heartbeat"}')
    assert proto.send_frame_now(frame) is True
    assert transport.socket.received == frame
    assert transport.queued() == b""


def test_what_the_socket_does_not_take_is_queued_in_order() -> None:
    """A partial write leaves the rest to Twisted, and later frames queue behind it."""
    proto, transport = protocol(Socket(room=5))
    first, second = text_frame(b"x" * 300), text_frame(b"y" * 10)
    proto.send_frame_now(first)
    proto.send_frame_now(second)
    assert transport.socket.received == first[:5]
    assert transport.queued() == first[5:] + second


def test_nothing_goes_straight_while_bytes_are_queued_or_the_socket_closes() -> None:
    """Queued bytes ahead, or a closing transport, send everything through Twisted."""
    proto, transport = protocol()
    transport.dataBuffer = b"earlier"
    frame = text_frame(b"later")
    proto.send_frame_now(frame)
    assert (transport.socket.received, transport.queued()) == (b"", frame)
    proto, transport = protocol()
    transport.disconnecting = True
    proto.send_frame_now(frame)
    assert transport.socket.received == b""


def test_ready_frames_are_declined_when_compressing_and_refused_when_closing() -> None:
    """With permessage-deflate the consumer must use `send`; once closing, Disconnected."""
    proto, _ = protocol()
    proto._perMessageCompress = object()
    assert internals.compresses(proto)
    proto.compressing = True
    assert proto.send_frame_now(b"\x81\x00") is False
    proto, _ = protocol()
    proto.state = proto.STATE_CLOSING
    with pytest.raises(Disconnected):
        proto.send_frame_now(b"\x81\x00")


def test_a_synchronised_write_gets_a_send_queue_back() -> None:
    """With the send queue dropped, a synchronised write still goes out, first in line."""
    proto, transport = protocol()
    internals.drop_send_queue(proto)
    proto.triggered = True
    proto.sendData(b"synced", sync=True)
    assert isinstance(proto.send_queue, collections.deque)
    assert list(proto.send_queue) == [(b"synced", True)]
    proto.sendData(b"after")
    assert transport.socket.received == b""
    assert list(proto.send_queue) == [(b"synced", True), (b"after", False)]


def test_reading_pauses_at_the_high_mark_and_resumes_at_the_low_one() -> None:
    """INBOUND_HIGH frames waiting pause the socket; draining to INBOUND_LOW resumes it."""
    proto, transport = protocol()
    inbox = Inbox()
    proto.application_queue = inbox
    for _ in range(INBOUND_HIGH):
        proto.onMessage(b'{"type":"heartbeat"}', False)
    assert transport.paused
    assert proto.reading_paused
    proto.read_when_drained()
    assert transport.paused
    for _ in range(INBOUND_HIGH - INBOUND_LOW):
        inbox._items.pop()
    proto.read_when_drained()
    assert not transport.paused
    assert not proto.reading_paused


def closes(code: int, reason: str) -> list[tuple[str, Any]]:
    proto, _ = protocol()
    sent: list[tuple[str, Any]] = []
    proto.sendClose = lambda code=None, reason=None: sent.append(("sendClose", (code, reason)))
    proto.sendCloseFrame = lambda code, reasonUtf8, isReply: sent.append(
        ("sendCloseFrame", (code, reasonUtf8))
    )
    proto.handle_reply({"type": "websocket.close", "code": code, "reason": reason})
    return sent


@pytest.mark.parametrize("code", [1011, 1012, 1013])
def test_server_codes_autobahn_refuses_go_out_with_their_reason(code: int) -> None:
    """1011, 1012 and 1013 are sent as close frames with the consumer's reason."""
    assert closes(code, "try again later") == [("sendCloseFrame", (code, b"try again later"))]


def test_application_codes_keep_their_reason_cut_to_a_close_frame() -> None:
    """4xxx closes carry the reason, cut to the 123 bytes a close frame holds."""
    [(kind, (code, reason))] = closes(4401, "é" * 100)
    assert (kind, code) == ("sendClose", 4401)
    assert len(reason.encode()) <= 123
