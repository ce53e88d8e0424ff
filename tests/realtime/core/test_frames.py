"""order.update frames are built once per event and transport, and the cache
stays within its bytes."""

from __future__ import annotations

import json

from realtime.core import frames
from realtime.core.frames import Encoder, FrameCache
from realtime.delivery.events import Event
from realtime.ws.wire import event_frame, payload, text_frame


def event(seq: int, size: int = 10) -> Event:
    return Event(seq, 1, 2, seq, 1.5, {"id": 1, "note": "x" * size}, {"by": "kitchen"})


def test_an_event_becomes_an_order_update_frame() -> None:
    """The frame carries seq, order, published_at and meta, framed for the wire."""
    e = event(7)
    text = frames.text(e)
    assert json.loads(text) == {
        "type": "order.update",
        "seq": 7,
        "order": e.payload,
        "published_at": 1.5,
        "meta": {"by": "kitchen"},
    }
    assert event_frame(e) == text_frame(text.encode())
    assert payload(event_frame(e)) == text


def test_one_event_is_framed_once_for_every_connection() -> None:
    """A second request for the same event returns the same bytes object."""
    e = event(8)
    assert event_frame(e) is event_frame(e)


def test_another_event_with_the_same_seq_gets_its_own_frame() -> None:
    """The cache tells events apart by identity, not by seq alone."""
    first, second = event(9, size=1), event(9, size=2)
    assert event_frame(first) != event_frame(second)


def test_every_transport_frames_the_same_text_once() -> None:
    """Two encoders of one event both wrap the one JSON text, each building its bytes once."""
    calls: list[str] = []

    def framed(e: Event, text: str) -> bytes:
        calls.append(text)
        return text.encode()

    first, second = Encoder(framed), Encoder(framed)
    e = event(10)
    assert first(e) is first(e)
    assert second(e) == first(e)
    assert calls == [frames.text(e)] * 2


def test_the_cache_keeps_the_newest_frames_within_its_budget() -> None:
    """Past the byte budget the oldest frames go; the newest always stays."""
    cache = FrameCache(budget=250)
    events = [event(seq) for seq in range(1, 5)]
    for e in events:
        cache.put(e, b"x" * 100)
    assert cache.size <= 250
    assert [cache.get(e) is not None for e in events] == [False, False, True, True]
    huge = event(5)
    cache.put(huge, b"y" * 1000)
    assert cache.get(huge) == b"y" * 1000
    assert len(cache.frames) == 1


def test_payload_reads_every_header_length() -> None:
    """Frames of 125, 126 and 65536 bytes give back their text."""
    for length in (125, 126, 65_536):
        text = "z" * length
        assert payload(text_frame(text.encode())) == text
