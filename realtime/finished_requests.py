"""A finished request's disconnect is kept from Django (docs/architecture.md).

daphne tells the application `http.disconnect` once every response is sent.
Django's ASGI handler listens for it in a task of its own, and when it comes
after the response that task raises `RequestAborted`: the exception's
traceback holds the handler's frame, which holds the task, which holds the
exception. About seventy objects per request that only the garbage
collector frees, in collections that stop every other request while they
run. Kept from Django, the disconnect is never read: the handler cancels
its listener once the response is out, and the request's objects go when it
ends. A disconnect before the response ends still reaches Django, which then
stops the view.
"""

from __future__ import annotations

import asyncio
from typing import Any

Message = dict[str, Any]


class FinishedRequests:
    """ASGI middleware for Django's HTTP handler."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        finished = False

        async def receive_until_finished() -> Message:
            message: Message = await receive()
            if finished and message["type"] == "http.disconnect":
                # Waits until the handler cancels its listener.
                await asyncio.get_running_loop().create_future()
            return message

        async def send_and_note(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        await self.app(scope, receive_until_finished, send_and_note)
