"""The text/event-stream encoding the stream writes (realtime/sse/wire.py)."""

from __future__ import annotations

import json

from realtime.client.eventstream import EventStreamDecoder
from realtime.core import protocol
from realtime.delivery.events import Event
from realtime.sse import wire


def decode(data: bytes) -> list[tuple[str, str, str | None]]:
    return [(e.event, e.data, e.id) for e in EventStreamDecoder().feed(data)]


def test_an_order_update_carries_its_seq_as_the_event_id() -> None:
    """`id:` is the seq, `event:` the frame's type, `data:` the same JSON a WebSocket gets."""
    event = Event(7, 1, 2, 3, 1.5, {"id": 1, "version": 3}, {})
    [(kind, data, event_id)] = decode(wire.event_frame(event))
    assert (kind, event_id) == ("order.update", "7")
    assert json.loads(data) == {
        "type": "order.update",
        "seq": 7,
        "order": {"id": 1, "version": 3},
        "published_at": 1.5,
        "meta": {},
    }


def test_frames_become_events_named_by_their_type() -> None:
    """A heartbeat has no id; resync_required carries its cursor as the id."""
    heartbeat = protocol.encode(protocol.heartbeat(1.0, 9))
    resync = protocol.encode(protocol.resync_required("history_gone", 42, None))
    assert decode(wire.frame(heartbeat)) == [("heartbeat", heartbeat, None)]
    assert decode(wire.frame(resync)) == [("resync_required", resync, "42")]


def test_a_close_event_says_the_code_and_reason() -> None:
    """The last event of a stream the server ends."""
    [(kind, data, _)] = decode(wire.close(4409, "slow consumer"))
    assert (kind, json.loads(data)) == (
        "close",
        {"type": "close", "code": 4409, "reason": "slow consumer"},
    )


def test_data_with_newlines_is_split_into_lines_and_joined_back() -> None:
    """Every line of the data gets its own `data:` field."""
    assert decode(wire.event("x", "a\nb")) == [("x", "a\nb", None)]


def test_retry_suggests_a_reconnect_delay() -> None:
    """`retry:` sets the reader's reconnect delay and dispatches nothing."""
    decoder = EventStreamDecoder()
    assert decoder.feed(wire.retry(1500)) == []
    assert decoder.retry == 1500
