"""Where a client connects, from the one URL it is given, free of I/O: the
WebSocket, the stream and the HTTP API of one server. Any of
`ws://host/ws/orders/`, `http://host/sse/orders/` or `http://host` names
all three (with other paths when the server mounts the endpoints elsewhere)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

WEBSOCKET_PATH = "/ws/orders/"
STREAM_PATH = "/sse/orders/"
SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


@dataclass(frozen=True)
class Endpoints:
    websocket: str
    sse: str
    api: str

    @classmethod
    def of(
        cls,
        url: str,
        api_url: str | None = None,
        ws_path: str = WEBSOCKET_PATH,
        sse_path: str = STREAM_PATH,
    ) -> Endpoints:
        parts = urllib.parse.urlsplit(url)
        http = SCHEMES.get(parts.scheme)
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError:
            http = None
        if http is None or not parts.hostname:
            raise ValueError(
                f"not a server URL: {url!r} (give ws://HOST:PORT/ws/orders/ or http://HOST:PORT)"
            )
        ws = "wss" if http == "https" else "ws"
        path = parts.path
        prefix = ""
        paths = ("/" + ws_path.strip("/"), "/" + sse_path.strip("/"))
        for known in (*(f"{p}/" for p in paths), *paths):
            if path.endswith(known):
                prefix = path[: -len(known)]
                break
        else:
            prefix = path.rstrip("/")
        base = f"{parts.netloc}{prefix}"
        api = api_url.rstrip("/") if api_url else f"{http}://{base}"
        return cls(f"{ws}://{base}{paths[0]}/", f"{http}://{base}{paths[1]}/", api)
