"""safe_send for a stream: the transport's pauses hold frames back, what it
takes counts as the client's ack, bytes the peer acknowledged count as life,
and the close is an event before the response ends (realtime/sse/sending.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from realtime.auth.principal import Principal
from realtime.client.eventstream import EventStreamDecoder
from realtime.core.connection import Config, Connection
from realtime.core.journal import Journal
from realtime.delivery.events import Event
from realtime.sse.sending import StreamSender

pytestmark = pytest.mark.timeout(30)


class FakeStream:
    def __init__(self) -> None:
        self.paused = False
        self.data = b""
        self.finished = False
        self.pending = 0
        self.resumed: Callable[[], None] | None = None

    def write(self, data: bytes) -> bool:
        if self.finished:
            raise ConnectionResetError("closed")
        self.data += data
        self.pending += len(data)
        return True

    def finish(self) -> None:
        self.finished = True

    def unsent(self) -> int:
        return self.pending

    def written(self) -> int:
        return len(self.data)

    def on_resume(self, callback: Callable[[], None]) -> None:
        self.resumed = callback


class Owner:
    def __init__(self) -> None:
        self.torn_down = 0

    def apply_pending(self) -> None:
        return None

    def teardown(self) -> None:
        self.torn_down += 1


def opened(stream: FakeStream | None, sent: list[dict[str, Any]] | None = None) -> StreamSender:
    async def base_send(message: dict[str, Any]) -> None:
        assert sent is not None
        sent.append(message)

    conn = Connection(Config(1, 3, 100, 1000, 20), "c1", now=0.0)
    conn.accept(Principal(2, "alice", False, 10_000.0), 0, {}, now=0.0)
    conn.take_commands()
    return StreamSender(conn, base_send, stream, Owner(), Journal("sse"))


def event(seq: int) -> Event:
    return Event(seq, 1, 2, seq, 0.0, {"id": 1, "version": seq}, {})


def test_frames_wait_while_the_transport_is_paused_and_go_on_resume() -> None:
    """Nothing is written while paused; resuming writes it in order and acks the cursor."""
    stream = FakeStream()
    out = opened(stream)
    out.flush()
    assert b"event: welcome" in stream.data
    stream.paused = True
    for seq in (1, 2):
        out.conn.event(event(seq))
        out.flush()
    assert b"order.update" not in stream.data
    assert out.conn.flow.lag == 2
    stream.paused = False
    assert stream.resumed is not None
    stream.resumed()
    ids = [e.id for e in EventStreamDecoder().feed(stream.data) if e.event == "order.update"]
    assert ids == ["1", "2"]
    assert out.conn.flow.lag == 0


def test_only_bytes_the_peer_took_count_as_life() -> None:
    """A tick finds life when everything, or everything up to the last check, was taken."""
    stream = FakeStream()
    out = opened(stream)
    out.flush()
    beat = out.conn.heartbeat
    out.check_drained(1.0)
    assert beat.last_received == 0.0
    stream.pending = 10
    out.check_drained(2.0)
    assert beat.last_received == 0.0
    stream.pending = 0
    out.check_drained(2.5)
    assert beat.last_received == 2.5
    # Written since the last check and not taken yet: what came before was taken.
    stream.write(b"x" * 100)
    out.check_drained(3.0)
    assert beat.last_received == 3.0
    stream.pending = 50
    out.check_drained(3.5)
    assert beat.last_received == 3.0


def test_a_stream_that_never_drains_is_closed_4408_by_the_tick() -> None:
    """The heartbeat timeout applies to what the peer takes: a close event, then the end."""
    stream = FakeStream()
    out = opened(stream)
    out.flush()
    stream.pending = 1
    for now in (1.0, 2.0, 3.0, 3.5):
        out.check_drained(now)
        out.conn.tick(now, now, 0)
        out.flush()
    events = EventStreamDecoder().feed(stream.data)
    assert events[-1].event == "close"
    assert '"code":4408' in events[-1].data
    assert (stream.finished, out.close_code) == (True, 4408)


async def test_without_the_servers_writer_it_streams_through_asgi() -> None:
    """`http.response.body` with more_body for each frame, more_body false with the close."""
    sent: list[dict[str, Any]] = []
    out = opened(None, sent)
    out.flush()
    out.conn.close(1012, "server restarting")
    out.flush()
    assert out.writer is not None
    await asyncio.wait_for(out.writer, 1)
    assert [m["more_body"] for m in sent] == [True, False]
    assert b"event: close" in sent[-1]["body"]


def test_a_close_goes_out_even_while_the_transport_pushes_back() -> None:
    """A slow consumer's 4409 is written and the response ended, paused or not."""
    stream = FakeStream()
    out = opened(stream)
    out.flush()
    stream.paused = True
    out.conn.close(4409, "slow consumer")
    out.flush()
    assert (stream.finished, out.close_code) == (True, 4409)
    assert EventStreamDecoder().feed(stream.data)[-1].event == "close"
