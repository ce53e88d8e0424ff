"""Reading text/event-stream as the WHATWG algorithm does, however the bytes
are split (realtime/client/eventstream.py)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from realtime.client.eventstream import EventStreamDecoder, ServerEvent

STREAM = (
    "retry: 1000\r\n\r\n"
    ": a comment\n"
    'id: 5\nevent: order.update\ndata: {"seq":5}\n\n'
    "event: heartbeat\rdata: {}\r\r"
    "data: first\ndata:second\n\n"
    "id\n\n"
    "data: caf\u00e9\n\n"
).encode()
EXPECTED = [
    ServerEvent("order.update", '{"seq":5}', "5"),
    ServerEvent("heartbeat", "{}"),
    ServerEvent("message", "first\nsecond"),
    ServerEvent("message", "caf\u00e9"),
]


def test_every_field_and_line_ending() -> None:
    """Comments, CR/LF/CRLF, multi-line data, ids, retry and the default type."""
    decoder = EventStreamDecoder()
    assert decoder.feed(STREAM) == EXPECTED
    assert decoder.retry == 1000
    # An empty `id` resets the last event id, as a browser's EventSource does.
    assert decoder.last_event_id == ""


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_the_same_events_however_the_bytes_arrive(cuts: list[int]) -> None:
    """Split anywhere, across CRLF pairs and inside UTF-8 characters, nothing changes."""
    decoder = EventStreamDecoder()
    events: list[ServerEvent] = []
    points = [0, *sorted(cuts), len(STREAM)]
    for start, end in itertools.pairwise(points):
        events += decoder.feed(STREAM[start:end])
    assert events == EXPECTED


def test_the_last_event_id_outlives_events_without_one() -> None:
    """An event with no `id:` keeps the last id, which is what a reconnect sends."""
    decoder = EventStreamDecoder()
    decoder.feed(b"id: 3\ndata: a\n\ndata: b\n\n")
    assert decoder.last_event_id == "3"
