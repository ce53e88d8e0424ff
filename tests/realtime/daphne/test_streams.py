"""The writer a streamed response gets on daphne (realtime/daphne/streams.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import pytest

from realtime.daphne.streams import StreamWriter, kernel_unacknowledged

pytestmark = pytest.mark.timeout(30)


class FakeRequest:
    def __init__(self) -> None:
        self.finished = False
        self.channel: object | None = object()
        self.transport: Any = None
        self.producer: Any = None
        self.body = b""
        self.startedWriting = 0
        self.chunked = 0

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.body += data

    def finish(self) -> None:
        self.finished = True


def test_the_writer_follows_twisteds_pauses_and_tells_its_stream_on_resume() -> None:
    """It registers as the request's push producer; a resume calls the stream back."""
    request = FakeRequest()
    writer = StreamWriter(reactor=None, request=request)
    resumed: list[str] = []
    writer.on_resume(lambda: resumed.append("go"))
    assert request.producer is writer
    writer.pauseProducing()
    assert writer.paused
    writer.resumeProducing()
    assert (writer.paused, resumed) == (False, ["go"])


def test_writes_count_and_a_finished_stream_refuses_more() -> None:
    """Bytes go to the request and are counted; after finish, a write is a lost peer."""
    request = FakeRequest()
    writer = StreamWriter(reactor=None, request=request)
    writer.write(b"data: x\n\n")
    assert (request.body, writer.written()) == (b"data: x\n\n", 9)
    writer.finish()
    assert (request.finished, request.producer) == (True, None)
    with pytest.raises(ConnectionResetError):
        writer.write(b"more")


def test_once_the_head_is_out_each_write_is_one_chunk_on_the_transport() -> None:
    """After the first write, bytes go to the transport as HTTP/1.1 chunks, each built once."""
    written: list[bytes] = []

    class Transport:
        def write(self, data: bytes) -> None:
            written.append(data)

    request = FakeRequest()
    request.transport = Transport()
    writer = StreamWriter(reactor=None, request=request)
    writer.write(b"retry: 1\n\n")
    request.startedWriting, request.chunked = 1, 1
    event = b"event: x\ndata: {}\n\n"
    writer.write(event)
    writer.write(event)
    assert written == [b"13\r\n" + event + b"\r\n"] * 2
    assert written[0] is written[1]
    assert writer.written() == len(b"retry: 1\n\n") + 2 * len(event)


def test_the_kernel_says_what_the_peer_has_not_taken() -> None:
    """Bytes a TCP peer has not acknowledged (its window full) show in the send queue,
    and none once it has read them."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(server.getsockname())
        writer, _ = server.accept()
        writer.setblocking(False)

        class Transport:
            socket = writer
            TLS = False

        try:
            sent = 0
            with contextlib.suppress(BlockingIOError):
                for _ in range(10_000):
                    sent += writer.send(b"x" * 65536)
            assert kernel_unacknowledged(Transport()) > 0
            reader.settimeout(5)
            received = 0
            while received < sent:
                received += len(reader.recv(1 << 20))
            deadline = time.monotonic() + 5
            while kernel_unacknowledged(Transport()) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert kernel_unacknowledged(Transport()) == 0
        finally:
            reader.close()
            writer.close()
