"""Reading `text/event-stream` (WHATWG HTML, "Server-sent events", "Event
stream interpretation"), free of I/O: bytes in as they arrive, whole events
out. Lines end in LF, CR or CRLF; `data:` lines join with LF; a line
starting with a colon is a comment; an event is dispatched at a blank line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str
    data: str
    id: str | None = None


class EventStreamDecoder:
    def __init__(self) -> None:
        self._buffer = ""
        self._pending = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._has_id = False
        # The last `retry:` the stream sent, in milliseconds.
        self.retry: int | None = None
        # The last event id the stream set: what `Last-Event-ID` resumes from.
        self.last_event_id = ""
        self._skip_lf = False

    def feed(self, data: bytes) -> list[ServerEvent]:
        text = self._decode(data)
        events: list[ServerEvent] = []
        start = 0
        if self._skip_lf and text.startswith("\n"):
            start = 1
        self._skip_lf = False
        text = self._buffer + text[start:]
        self._buffer = ""
        position = 0
        for _ in range(len(text) + 1):
            cr, lf = text.find("\r", position), text.find("\n", position)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = text[position:end]
            position = end + 1
            if text[end] == "\r":
                if position < len(text):
                    if text[position] == "\n":
                        position += 1
                else:
                    # A CR at the end of what arrived: its LF may come next.
                    self._skip_lf = True
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = text[position:]
        return events

    def _decode(self, data: bytes) -> str:
        """UTF-8, keeping a character split across reads for the next one."""
        raw = self._pending + data
        for cut in range(min(3, len(raw)) + 1):
            try:
                text = raw[: len(raw) - cut].decode()
            except UnicodeDecodeError:
                continue
            self._pending = raw[len(raw) - cut :]
            return text
        self._pending = b""
        return raw.decode(errors="replace")

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id, self._has_id = value, True
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        if self._has_id:
            self.last_event_id = self._id or ""
        event_id = self._id if self._has_id else None
        data, kind = self._data, self._event
        self._event, self._data, self._id, self._has_id = "", [], None, False
        if not data:
            return None
        return ServerEvent(kind or "message", "\n".join(data), event_id)
