"""An ASGI wrapper for HTTP: one access line per request (path only, so no
query-string token is ever logged), `X-Response-Time` on every response, and a
client that leaves before the response completes logged at INFO as 499."""

from __future__ import annotations

import logging
import time
from typing import Any

from realtime.observability.logging import log_event

logger = logging.getLogger("realtime.http")

Scope = dict[str, Any]
Message = dict[str, Any]


class HttpObserver:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        status = 0
        complete = False
        disconnected = False

        async def observed_receive() -> Message:
            nonlocal disconnected
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def observed_send(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = int(message["status"])
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = [
                    *message.get("headers", ()),
                    (b"x-response-time", f"{elapsed_ms:.1f}ms".encode()),
                ]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            logged_status = status if complete or not disconnected else 499
            log_event(
                logger,
                "request",
                method=scope.get("method", "-"),
                path=scope.get("path", "-"),
                status=logged_status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
