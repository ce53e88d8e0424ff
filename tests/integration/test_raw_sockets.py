"""What a live server does with bytes no WebSocket client library would send:
garbage instead of a handshake, a handshake without its upgrade headers, a
half-sent handshake or frame and then silence, broken frames. Each gets a
clear refusal; the server stays healthy and frees the connection."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from realtime.testing.api import call
from realtime.testing.processes import HOST, Daphne
from tests.integration.conftest import make_server, seed_tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

IDLE_TIMEOUT = 2.0
HEARTBEAT_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daphne, str]]:
    tmp = tmp_path_factory.mktemp("raw")
    with make_server(
        tmp, "sqlite", "memory", request, HTTP_IDLE_TIMEOUT=str(IDLE_TIMEOUT)
    ) as server:
        yield server, seed_tokens(server)["alice"]


@pytest.fixture
def server(served: tuple[Daphne, str]) -> Iterator[Daphne]:
    """The shared server; after each test it is healthy, holds no connection and logged no ERROR."""
    yield served[0]
    assert call("GET", f"{served[0].http}/health/live") == (200, {"status": "ok"})
    # Raises if a connection is never freed.
    served[0].wait_for_open(0)
    assert served[0].error_lines() == []


@pytest.fixture
def token(served: tuple[Daphne, str]) -> str:
    return served[1]


def raw(server: Daphne) -> socket.socket:
    return socket.create_connection((HOST, server.port), timeout=10)


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the socket, and how long that took."""
    sock.settimeout(timeout)
    started = time.monotonic()
    received = b""
    for _ in range(10_000):
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def handshake(server: Daphne, token: str) -> socket.socket:
    sock = raw(server)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/orders/?token={token} HTTP/1.1\r\nHost: {HOST}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    for _ in range(100):
        if b"\r\n\r\n" in response:
            break
        chunk = sock.recv(4096)
        assert chunk, "server closed during the handshake"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101 ")
    return sock


def client_frame(opcode: int, payload: bytes, masked: bool = True) -> bytes:
    mask = os.urandom(4) if masked else b""
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([(0x80 if masked else 0) | length])
    else:
        header += bytes([(0x80 if masked else 0) | 126]) + struct.pack("!H", length)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else payload
    return header + mask + body


def close_code_in(data: bytes) -> int | None:
    """The code of the first server close frame in `data` (server frames are unmasked)."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = struct.unpack("!H", data[at : at + 2])[0], at + 2
        elif length == 127:
            length, at = struct.unpack("!Q", data[at : at + 8])[0], at + 8
        if opcode == 0x8:
            return int(struct.unpack("!H", data[at : at + 2])[0])
        at += length
    return None


def test_garbage_instead_of_a_handshake_gets_400_and_a_close(server: Daphne) -> None:
    """Random bytes where an HTTP request belongs are answered 400 and the socket is closed."""
    sock = raw(server)
    sock.sendall(os.urandom(512) + b"\r\n\r\n")
    received, _ = read_until_closed(sock, 5)
    assert received.startswith(b"HTTP/1.1 400 ")


def test_plain_http_to_the_websocket_path_gets_426(server: Daphne) -> None:
    """A GET without upgrade headers is told, in JSON, that this is a WebSocket endpoint."""
    status, body = call("GET", server.ws.replace("ws://", "http://"))
    assert status == 426
    assert body == {"detail": "this is a WebSocket endpoint: connect with a WebSocket client"}


def test_upgrade_without_a_key_is_refused_400(server: Daphne, token: str) -> None:
    """Upgrade headers without Sec-WebSocket-Key are refused with 400 and a close."""
    sock = raw(server)
    sock.sendall(
        f"GET /ws/orders/?token={token} HTTP/1.1\r\nHost: {HOST}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n".encode()
    )
    received, _ = read_until_closed(sock, 5)
    assert received.startswith(b"HTTP/1.1 400 ")


def test_half_sent_handshake_then_silence_is_dropped(server: Daphne) -> None:
    """A request cut off mid-header is dropped after HTTP_IDLE_TIMEOUT instead of held."""
    sock = raw(server)
    sock.sendall(b"GET /ws/orders/ HTTP/1.1\r\nHost: 127.0")
    received, waited = read_until_closed(sock, IDLE_TIMEOUT + 8)
    assert waited < IDLE_TIMEOUT + 8
    assert waited >= IDLE_TIMEOUT - 0.5
    assert b"101" not in received


def test_half_sent_frame_then_silence_is_closed_4408_and_freed(server: Daphne, token: str) -> None:
    """A frame header promising 4000 bytes, 3 sent, then silence: 4408, and the socket is closed."""
    sock = handshake(server, token)
    # A zero mask keeps the partial payload valid UTF-8, so only the silence is wrong.
    sock.sendall(b"\x81\xfe" + struct.pack("!H", 4000) + bytes(4) + b"abc")
    received, waited = read_until_closed(sock, HEARTBEAT_TIMEOUT + 10)
    assert close_code_in(received) == 4408
    assert waited < HEARTBEAT_TIMEOUT + 10


def test_invalid_utf8_in_a_text_frame_closes_1007(server: Daphne, token: str) -> None:
    """A text frame that is not UTF-8 is closed with 1007 by the WebSocket layer."""
    sock = handshake(server, token)
    sock.sendall(client_frame(0x1, b'{"type":"\xff\xfe"}'))
    received, _ = read_until_closed(sock, 10)
    assert close_code_in(received) == 1007


def test_unmasked_client_frame_closes_1002(server: Daphne, token: str) -> None:
    """A client frame without a mask breaks RFC 6455 and is closed with 1002."""
    sock = handshake(server, token)
    sock.sendall(client_frame(0x1, json.dumps({"type": "heartbeat"}).encode(), masked=False))
    received, _ = read_until_closed(sock, 10)
    assert close_code_in(received) == 1002


def test_frame_claiming_an_enormous_length_closes_1009(server: Daphne, token: str) -> None:
    """A header announcing 2**62 bytes is refused with 1009 before any of it is read."""
    sock = handshake(server, token)
    sock.sendall(b"\x81\xff" + struct.pack("!Q", 2**62) + os.urandom(4) + b"x" * 100)
    received, _ = read_until_closed(sock, 10)
    assert close_code_in(received) == 1009


def test_unknown_opcode_closes_1002(server: Daphne, token: str) -> None:
    """A frame with a reserved opcode is a protocol error: 1002."""
    sock = handshake(server, token)
    sock.sendall(client_frame(0x3, b"x"))
    received, _ = read_until_closed(sock, 10)
    assert close_code_in(received) == 1002
