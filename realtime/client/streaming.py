"""One GET of `/sse/orders/` on asyncio: HTTP/1.1 through h11 (sans-I/O),
the body through `EventStreamDecoder`, so this module only moves bytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.parse
from collections.abc import AsyncIterator

import h11

from realtime.client.eventstream import EventStreamDecoder, ServerEvent

READ_BYTES = 65536
MAX_REFUSAL_BYTES = 16384


class StreamRefused(Exception):
    """The server (or something in front of it) answered other than 200."""

    def __init__(
        self, status: int, detail: str, code: int | None, retry_after: float | None
    ) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.code, self.retry_after = status, detail, code, retry_after


class StreamEnded(Exception):
    """The response ended or the connection closed."""


class EventStream:
    def __init__(self, url: str, headers: dict[str, str], open_timeout: float) -> None:
        self.url = urllib.parse.urlsplit(url)
        self.headers = headers
        self.open_timeout = open_timeout
        self.decoder = EventStreamDecoder()
        self._http = h11.Connection(h11.CLIENT)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect and read the response head; StreamRefused unless 200."""
        url = self.url
        secure = url.scheme == "https"
        port = url.port or (443 if secure else 80)
        host = url.hostname or "127.0.0.1"
        async with asyncio.timeout(self.open_timeout):
            self._reader, self._writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
            target = url.path + (f"?{url.query}" if url.query else "")
            headers = [
                ("Host", url.netloc),
                ("Accept", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                *self.headers.items(),
            ]
            self._send(h11.Request(method="GET", target=target or "/", headers=headers))
            self._send(h11.EndOfMessage())
            response = await self._next()
        if not isinstance(response, h11.Response):
            raise StreamEnded("no response")
        if response.status_code != 200:
            raise await self._refusal(response)

    async def events(self) -> AsyncIterator[ServerEvent]:
        """Every event of the stream until it ends (StreamEnded)."""
        for _ in range(1_000_000_000):
            item = await self._next()
            if isinstance(item, h11.Data):
                for event in self.decoder.feed(bytes(item.data)):
                    yield event
            elif isinstance(item, h11.EndOfMessage | h11.ConnectionClosed):
                raise StreamEnded("the stream ended")

    def abort(self) -> None:
        writer = self._writer
        if writer is not None:
            writer.transport.abort()

    async def _refusal(self, response: h11.Response) -> StreamRefused:
        body = b""
        with contextlib.suppress(StreamEnded, OSError, TimeoutError, h11.ProtocolError):
            async with asyncio.timeout(self.open_timeout):
                for _ in range(1000):
                    item = await self._next()
                    if not isinstance(item, h11.Data):
                        break
                    body += bytes(item.data)
                    if len(body) > MAX_REFUSAL_BYTES:
                        break
        detail = body.decode(errors="replace").strip()[:200]
        code = None
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            said = json.loads(body)
            detail = str(said.get("detail", detail))
            code = int(said["code"]) if isinstance(said.get("code"), int) else None
        retry_after = None
        for name, value in response.headers:
            if name == b"retry-after":
                with contextlib.suppress(ValueError):
                    retry_after = float(value)
        return StreamRefused(response.status_code, detail, code, retry_after)

    def _send(self, event: h11.Event) -> None:
        data = self._http.send(event)
        assert self._writer is not None
        if data:
            self._writer.write(data)

    async def _next(self) -> h11.Event:
        assert self._reader is not None
        http = self._http
        for _ in range(1_000_000_000):
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as exc:
                raise StreamEnded(f"bad HTTP from the server: {exc}") from exc
            if event is h11.NEED_DATA:
                data = await self._reader.read(READ_BYTES)
                http.receive_data(data)
                continue
            if event is h11.PAUSED:
                raise StreamEnded("the response ended")
            return event  # type: ignore[return-value]
        raise StreamEnded("the response never ended")
