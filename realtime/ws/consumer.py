"""The `/ws/orders/` consumer: the WebSocket I/O around
`realtime.core.endpoint` (docs/architecture.md). It reads client frames
into the connection, accepts the handshake and closes it; everything else
(hooks, scope checks, replays, hub calls, teardown) is the endpoint's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from realtime import conf
from realtime.auth.principal import Principal
from realtime.auth.scope import query_params, token_from_scope
from realtime.codes import CloseCode
from realtime.core import connection
from realtime.core.connection import Close
from realtime.core.endpoint import ANONYMOUS, Endpoint
from realtime.core.journal import Journal
from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER
from realtime.ws.sending import WebSocketSender
from realtime.ws.wire import FRAME_SENDER, PENDING_HOLD

logger = logging.getLogger(LIFECYCLE_LOGGER)


class OrdersConsumer(Endpoint, AsyncWebsocketConsumer):  # type: ignore[misc]
    transport = "websocket"
    journal = Journal("websocket")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The hub feeds this consumer, not a channel of its own, and it reaches
        # the database only through database_sync_to_async: no channel-layer
        # receive, no per-message close_old_connections thread hop.
        self.attach(scope, send)
        out = self.out
        try:
            message = await receive()
            if message["type"] == "websocket.connect":
                message = await self.connect_client(receive) or message
            while message["type"] != "websocket.disconnect" and not out.closed:
                message = await receive()
                if message["type"] == "websocket.receive":
                    metrics.MESSAGES_RECEIVED.inc()
                    text = message.get("text")
                    if text is None:
                        self.conn.receive_binary(time.monotonic())
                    else:
                        self.conn.receive(text, time.monotonic())
                    await self.carry_out()
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code") or 1005)
                if code == CloseCode.ABNORMAL:
                    out.lost(code, "connection lost")
                else:
                    out.lost(code, "client closed", "client")
        except asyncio.CancelledError:
            draining = self.hub is not None and self.hub.draining
            out.lost(
                CloseCode.SERVICE_RESTART if draining else 1006,
                "server shutdown" if draining else "cancelled",
                "server",
            )
            raise
        except Exception:
            logger.exception("consumer crashed conn=%s", self.conn.connection_id)
            out.crashed = True
            await out.close_now(Close(CloseCode.INTERNAL_ERROR, "server error"))
        finally:
            self.teardown()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every instance sets its attributes in one order from the start, so
        # CPython keeps them inline instead of giving each a dict of its own.
        self.scope: dict[str, Any] = {}
        self.base_send: Any = None
        self.principal = ANONYMOUS
        self.hub = None

    def attach(self, scope: dict[str, Any], send: Any) -> None:
        # Channels' accept() sends through base_send.
        self.scope, self.base_send = scope, send
        self.conn = self.new_connection()
        send_now = scope.get("extensions", {}).pop(FRAME_SENDER, None)
        self.out = WebSocketSender(self.conn, send, send_now, self, self.journal)

    async def connect_client(self, receive: Any) -> dict[str, Any] | None:
        """Admit and open the connection; a disconnect that came meanwhile is returned."""
        # Taken out of the scope, which lives as long as the connection.
        hold = self.scope.get("extensions", {}).pop(PENDING_HOLD, None)
        principal, refused, _ = await self.admit()
        # Read before accept(), after which the scope's headers are released.
        presented = token_from_scope(self.scope)
        await self.accept()
        if principal is None and connection.awaits_auth_frame(refused, presented):
            message, principal, refused = await self.authenticate_first_frame(receive, hold)
            if message is not None:
                return message
        if refused is not None or principal is None:
            await self.out.close_now(refused or Close(CloseCode.UNAUTHORIZED, "unauthorized"))
            return None
        await self.open(principal, query_params(self.scope))
        return None

    async def authenticate_first_frame(
        self, receive: Any, hold: Callable[[], Callable[[], None]] | None
    ) -> tuple[dict[str, Any] | None, Principal | None, Close | None]:
        """A connect with no token waits HTTP_HEADER_TIMEOUT for an `auth`
        frame, holding a place in its address's pending cap meanwhile (`hold`
        takes it and returns its release)."""
        release = hold() if hold is not None else None
        deadline = conf.settings.HTTP_HEADER_TIMEOUT
        try:
            message = await asyncio.wait_for(receive(), deadline)
        except TimeoutError:
            return None, None, Close(CloseCode.UNAUTHORIZED, f"no auth frame within {deadline:g} s")
        finally:
            if release is not None:
                release()
        if message["type"] != "websocket.receive":
            return message, None, None
        metrics.MESSAGES_RECEIVED.inc()
        self.conn.messages_in += 1
        token = connection.first_frame_token(
            message.get("text"), conf.settings.WEBSOCKET_MAX_MESSAGE_BYTES
        )
        if isinstance(token, Close):
            return None, None, token
        principal, refused, _ = await self.admit(token)
        return None, principal, refused
