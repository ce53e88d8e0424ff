"""`order.update` frames built once per event for every connection of a
transport, free of I/O: the JSON text once, then each transport's bytes
(a WebSocket frame, a Server-Sent Event) once.

A cache keeps the newest events' bytes, bounded in bytes as the hub's window
of recent events is; a connection replaying an older event builds its bytes
again, which costs only that connection's time."""

from __future__ import annotations

from collections.abc import Callable

from realtime.core import protocol
from realtime.delivery.events import Event

CACHE_BYTES = 4 * 2**20


class FrameCache:
    """seq -> (the event, its bytes), oldest first. The event is kept to
    tell a cached frame from another event with the same seq (a test's fresh
    database, say)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self.frames: dict[int, tuple[Event, bytes]] = {}
        self.last_event: Event | None = None
        self.last_frame: bytes | None = None

    def get(self, event: Event) -> bytes | None:
        # A broadcast asks for the same event once per connection in a row.
        if event is self.last_event:
            return self.last_frame
        cached = self.frames.get(event.seq)
        return cached[1] if cached is not None and cached[0] is event else None

    def put(self, event: Event, frame: bytes) -> None:
        self.last_event, self.last_frame = event, frame
        old = self.frames.pop(event.seq, None)
        if old is not None:
            self.size -= len(old[1])
        self.frames[event.seq] = (event, frame)
        self.size += len(frame)
        # The newest frame stays, however large: a broadcast is framed once.
        while self.size > self.budget and len(self.frames) > 1:
            self.size -= len(self.frames.pop(next(iter(self.frames)))[1])


class _LastText:
    """The newest event's JSON text: every transport frames the same text."""

    __slots__ = ("event", "text")

    def __init__(self) -> None:
        self.event: Event | None = None
        self.text = ""


_last = _LastText()


def text(event: Event) -> str:
    if event is _last.event:
        return _last.text
    encoded = protocol.encode(
        protocol.event_frame(
            event.type,
            event.seq,
            event.subject,
            event.version,
            event.payload,
            event.published_at,
            event.meta,
        )
    )
    _last.event, _last.text = event, encoded
    return encoded


class Encoder:
    """One transport's bytes for an event, built once: `frame(event, text)`
    wraps the event's JSON text for the wire."""

    def __init__(self, frame: Callable[[Event, str], bytes], budget: int = CACHE_BYTES) -> None:
        self.frame = frame
        self.cache = FrameCache(budget)

    def __call__(self, event: Event) -> bytes:
        cache = self.cache
        if event is cache.last_event:
            return cache.last_frame  # type: ignore[return-value]
        encoded = cache.get(event)
        if encoded is None:
            encoded = self.frame(event, text(event))
            cache.put(event, encoded)
        return encoded
