"""`order.update` frames built once per event for every connection that sends
it: the JSON text and the wire bytes (RFC 6455 §5.2), free of I/O.

The cache keeps the newest events' frames, bounded in bytes as the hub's
window of recent events is; a connection replaying an older event builds its
frame again, which costs only that connection's time."""

from __future__ import annotations

from realtime.delivery.events import Event
from realtime.ws import protocol
from realtime.ws.wire import text_frame

CACHE_BYTES = 4 * 2**20


class FrameCache:
    """seq -> (the event, its wire bytes), oldest first. The event is kept to
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


_cache = FrameCache(CACHE_BYTES)


def text(event: Event) -> str:
    return protocol.encode(
        protocol.order_update(event.seq, event.order, event.published_at, event.meta)
    )


def wire(event: Event) -> bytes:
    frame = _cache.get(event)
    if frame is None:
        frame = text_frame(text(event).encode())
        _cache.put(event, frame)
    return frame


def payload(frame: bytes) -> str:
    """The text of a frame `wire` built: its header is 2, 4 or 10 bytes."""
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return frame[start:].decode()
