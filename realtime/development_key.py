"""The demo's development SECRET_KEY is public (it is in this repository), so
a server signing tokens with it answers loopback clients only, whatever
started it: `realtime serve`, or plain `daphne -b 0.0.0.0`. Any other client
gets 503 saying why, and the log says it once, at ERROR, at start."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable
from typing import Any

from django.conf import settings

logger = logging.getLogger("realtime.server")

DETAIL = (
    "this server signs tokens with the public development key: set SECRET_KEY to serve "
    "anything but loopback clients"
)


def in_use() -> bool:
    return bool(getattr(settings, "DEV_SECRET_KEY", None) == settings.SECRET_KEY)


def loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"


class LoopbackOnly:
    """ASGI: with the development key, only loopback clients reach `app`.

    `__call__` is plain, not async: it hands back `app`'s own awaitable, so a
    WebSocket open for hours holds no coroutine of this guard's."""

    # asgiref would take a plain __call__ for an ASGI 2 application.
    _asgi_single_callable = True

    def __init__(self, app: Any) -> None:
        self.app = app
        self.guarding = in_use()
        if self.guarding:
            logger.error(
                "SECRET_KEY is not set: tokens are signed with the public development key, "
                "so only loopback clients are served (others get 503)"
            )

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        client = scope.get("client")
        if not self.guarding or scope["type"] == "lifespan" or (client and loopback(client[0])):
            return self.app(scope, receive, send)  # type: ignore[no-any-return]
        return refuse(scope, receive, send)


async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """503 with the reason, or a 1013 close where the server cannot answer a
    WebSocket handshake with a response of its own."""
    body = json.dumps({"detail": DETAIL}).encode()
    headers = [(b"content-type", b"application/json"), (b"retry-after", b"60")]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1013, "reason": DETAIL[:120]})
        return
    await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
