"""safe_send for a WebSocket: frames in order, at once when the server takes
ready frames, through ASGI `send` otherwise, and no send ever raises."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from realtime.core.connection import Config, Connection
from realtime.core.journal import Journal
from realtime.core.sending import BATCH, Writer
from realtime.ws.sending import WebSocketSender
from realtime.ws.wire import text_frame

pytestmark = pytest.mark.timeout(30)


def sender(
    fail_with: Exception | None = None, send_now: Writer | None = None
) -> tuple[WebSocketSender, list[dict[str, Any]], list[str]]:
    """A Sender whose ASGI `send` records messages (or raises `fail_with` on a frame)."""
    sent: list[dict[str, Any]] = []
    torn_down: list[str] = []

    async def base_send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and fail_with is not None:
            raise fail_with
        sent.append(message)

    class Owner:
        def apply_pending(self) -> None:
            return None

        def teardown(self) -> None:
            torn_down.append("down")

    conn = Connection(Config(25, 60, 100, 1000, 20), "c1", now=0.0)
    out = WebSocketSender(conn, base_send, send_now, Owner(), Journal("websocket"))
    return out, sent, torn_down


async def test_send_to_a_vanished_peer_tears_down_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """An OSError on send is the peer leaving: closed as 1006, torn down, logged at INFO."""
    out, sent, torn_down = sender(ConnectionResetError("gone"))
    assert await out.safe_send('{"type":"heartbeat"}') is False
    assert (out.close_code, torn_down, sent) == (1006, ["down"], [])
    assert max(record.levelno for record in caplog.records) == logging.INFO


async def test_send_that_fails_for_another_reason_closes_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A frame that fails on a live socket is a server bug: logged at ERROR, client gets 1011."""
    out, sent, torn_down = sender(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"))
    assert await out.safe_send('{"type":"heartbeat"}') is False
    assert sent == [{"type": "websocket.close", "code": 1011, "reason": "send failed"}]
    assert (out.close_code, torn_down) == (1011, ["down"])
    assert any(record.levelno == logging.ERROR for record in caplog.records)


async def test_a_declined_fast_path_falls_back_to_send() -> None:
    """A connection whose server cannot take ready frames gets them through ASGI `send`."""
    out, sent, _ = sender(send_now=lambda frame: False)
    out.conn.outbox.append('{"type":"heartbeat"}')
    out.flush()
    assert out.writer is not None
    await asyncio.wait_for(out.writer, 1)
    assert sent == [{"type": "websocket.send", "text": '{"type":"heartbeat"}'}]
    assert (out.send_now, out.messages_out) == (None, 1)


async def test_the_fast_path_sends_ready_frames_and_tears_down_on_a_lost_peer() -> None:
    """Frames go out already framed; an OSError closes as 1006 without touching ASGI `send`."""
    frames: list[bytes] = []

    def send_now(frame: bytes) -> bool:
        if frames:
            raise ConnectionResetError("gone")
        frames.append(frame)
        return True

    out, sent, torn_down = sender(send_now=send_now)
    out.conn.outbox.append('{"type":"heartbeat"}')
    out.flush()
    assert frames == [text_frame(b'{"type":"heartbeat"}')]
    out.conn.outbox.append('{"type":"heartbeat"}')
    out.flush()
    assert (out.close_code, torn_down, sent, out.writer) == (1006, ["down"], [], None)


async def test_a_close_goes_after_the_frames_queued_before_it() -> None:
    """The close is sent through ASGI `send` once what was queued ahead has gone."""
    out, sent, torn_down = sender()
    out.conn.outbox.append('{"type":"heartbeat"}')
    out.conn.close(4408, "heartbeat timeout")
    out.flush()
    assert out.writer is not None
    await asyncio.wait_for(out.writer, 1)
    assert [m["type"] for m in sent] == ["websocket.send", "websocket.close"]
    assert (sent[-1]["code"], sent[-1]["reason"]) == (4408, "heartbeat timeout")
    assert torn_down == ["down"]


async def test_frames_queued_together_go_out_in_one_write_each_counted() -> None:
    """Seventy queued frames: three writes of at most BATCH frames, in order, seventy counted."""
    writes: list[bytes] = []

    def send_now(data: bytes) -> bool:
        writes.append(data)
        return True

    out, _, _ = sender(send_now=send_now)
    texts = [f'{{"type":"heartbeat","n":{n}}}' for n in range(70)]
    out.conn.outbox.extend(texts)
    out.flush()
    assert [len(w) for w in writes] == [
        sum(len(text_frame(t.encode())) for t in part)
        for part in (texts[:BATCH], texts[BATCH : 2 * BATCH], texts[2 * BATCH :])
    ]
    assert b"".join(writes) == b"".join(text_frame(t.encode()) for t in texts)
    assert (out.messages_out, out.conn.outbox) == (70, [])


async def test_a_declined_batch_goes_through_send_whole_and_in_order() -> None:
    """A server that cannot take ready frames gets every queued frame through ASGI `send`."""
    out, sent, _ = sender(send_now=lambda data: False)
    texts = [f'{{"type":"heartbeat","n":{n}}}' for n in range(5)]
    out.conn.outbox.extend(texts)
    out.flush()
    assert out.writer is not None
    await asyncio.wait_for(out.writer, 1)
    assert [m["text"] for m in sent] == texts
    assert out.messages_out == 5
