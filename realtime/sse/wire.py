"""The `text/event-stream` format (WHATWG HTML, "Server-sent events"), free
of I/O: each frame the connection sends becomes one event whose `event:` is
the frame's `type` and whose `data:` is the frame's JSON text; an
`order.update` carries `id: <seq>` and a `resync_required` `id: <cursor>`, so
a reconnect's `Last-Event-ID` resumes from there."""

from __future__ import annotations

import json

from realtime.core.frames import Encoder

# The ASGI scope extension through which a server offers a synchronous
# writer for a streamed response: `scope["extensions"][STREAM_WRITER]` is a
# callable that returns a `realtime.sse.sending.Stream` for this request.
STREAM_WRITER = "realtime.stream_writer"

CONTENT_TYPE = b"text/event-stream; charset=utf-8"
# What a JSON frame's text starts with: every frame's first key is its type.
_TYPE_PREFIX = '{"type":"'


def event(kind: str, data: str, event_id: int | None = None) -> bytes:
    """One event. JSON text holds no raw newline, but any would start a new
    `data:` line, which the reader joins back."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"{head}event: {kind}\n{lines}\n".encode()


def retry(milliseconds: int) -> bytes:
    """How long a client should wait before it reconnects."""
    return f"retry: {milliseconds}\n\n".encode()


def frame(text: str) -> bytes:
    """A frame the connection encoded (welcome, heartbeat, resumed, error…)."""
    if text.startswith(_TYPE_PREFIX):
        kind = text[len(_TYPE_PREFIX) : text.index('"', len(_TYPE_PREFIX))]
    else:
        kind = str(json.loads(text)["type"])
    event_id = None
    if kind == "resync_required":
        event_id = int(json.loads(text)["cursor"])
    return event(kind, text, event_id)


def close(code: int, reason: str) -> bytes:
    """The last event of a stream the server ends: the WebSocket close code and reason."""
    text = json.dumps({"type": "close", "code": int(code), "reason": reason}, separators=(",", ":"))
    return event("close", text)


# An event (`order.update`, or a type of the host's), built once for every stream.
event_frame = Encoder(lambda e, text: event(e.type, text, e.seq))
