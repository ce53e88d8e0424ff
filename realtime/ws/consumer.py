"""The `/ws/orders/` consumer: the I/O around `realtime.ws.connection`
(docs/architecture.md). It feeds the connection what arrives (client frames,
hub events, ticks, answers from the database) and carries out what the
connection asks: frames to send, hub membership, database reads, log lines.

Frames go out at once when the server offers a synchronous frame sender
(`realtime.daphne` does, through the scope's extensions) and nothing is
queued; otherwise a short-lived writer task sends them in order. Teardown
runs once on every path: client close, server close, failed send,
cancellation at shutdown, or a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.codes import CloseCode, ErrorCode
from realtime.delivery import replay
from realtime.delivery.events import Event, History
from realtime.delivery.hub import Hub, get_hub
from realtime.delivery.scopes import Scope
from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER, log_event
from realtime.orders import visibility
from realtime.tokens import Principal, TokenError, verify_token
from realtime.ws import connection, frames
from realtime.ws.auth import ActiveUsers, origin_allowed, query_params, token_from_scope
from realtime.ws.connection import CheckScope, Close, Join, Leave, Note, ReadHistory
from realtime.ws.limits import ConnectionLimits
from realtime.ws.wire import FRAME_SENDER, text_frame

logger = logging.getLogger(LIFECYCLE_LOGGER)
ACTIVE_USERS = ActiveUsers()
NOTE_METRICS = {
    "heartbeat timeout": metrics.HEARTBEAT_TIMEOUTS,
    "slow consumer": metrics.SLOW_CONSUMER_CLOSES,
    "resume": metrics.RESUME_REPLAYS,
}


def config() -> connection.Config:
    return connection.Config(
        heartbeat_interval=settings.WEBSOCKET_HEARTBEAT_INTERVAL,
        heartbeat_timeout=settings.WEBSOCKET_HEARTBEAT_TIMEOUT,
        max_lag=settings.WEBSOCKET_MAX_LAG,
        max_message_bytes=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        rate_limit=settings.WEBSOCKET_RATE_LIMIT,
        replay_pages=settings.WEBSOCKET_REPLAY_PAGES,
    )


class OrdersConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Override `authenticate`, `may_subscribe` and `order_visible` to change
    who may connect and what they may see. A hook that raises stands for a
    backing service that is away: the client is told to retry (1013 or an
    `unavailable` error), never refused for good."""

    auth_error = ""
    principal = Principal(0, "", False, 0.0)
    closed: bool
    close_code: int | None

    # Hooks

    async def authenticate(self) -> Principal | None:
        """The principal of a valid token for an active user, or None (4401)."""
        try:
            principal = verify_token(token_from_scope(self.scope))
        except TokenError as exc:
            self.auth_error = str(exc)
            return None
        if not await ACTIVE_USERS.check(
            principal.user_id, database_sync_to_async(visibility.user_active)
        ):
            self.auth_error = "unknown or inactive user"
            return None
        return principal

    async def may_subscribe(self, scope: Scope) -> bool:
        return scope.kind != "all" or self.principal.staff

    async def order_visible(self, order_id: int) -> bool:
        return bool(
            await database_sync_to_async(visibility.order_visible)(
                order_id, self.principal.user_id, self.principal.staff
            )
        )

    # The receive loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The hub feeds this consumer, not a channel of its own, and it reaches
        # the database only through database_sync_to_async: no channel-layer
        # receive, no per-message close_old_connections thread hop.
        self.attach(scope, send)
        try:
            await self.connect_client()
            while not self.closed:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    self.closed = True
                    self.close_code = int(message.get("code") or 1005)
                    lost = self.close_code >= 1006
                    self.close_reason = "connection lost" if lost else "client closed"
                elif message["type"] == "websocket.receive":
                    text = message.get("text")
                    if text is None:
                        self.conn.receive_binary(time.monotonic())
                    else:
                        self.conn.receive(text, time.monotonic())
                    await self.carry_out()
        except asyncio.CancelledError:
            if self.close_code is None:
                draining = self.hub is not None and self.hub.draining
                self.close_code = CloseCode.SERVICE_RESTART if draining else 1006
                self.close_reason = "server shutdown" if draining else "cancelled"
            raise
        except Exception:
            logger.exception("consumer crashed conn=%s", self.conn.connection_id)
            self.crashed = True
            await self.close_now(Close(CloseCode.INTERNAL_ERROR, "server error"))
        finally:
            self.teardown()

    def attach(self, scope: dict[str, Any], send: Any) -> None:
        self.scope, self.base_send = scope, send
        self.send_now: Callable[[bytes], bool] | None = scope.get("extensions", {}).pop(
            FRAME_SENDER, None
        )
        now = time.monotonic()
        self.conn = connection.Connection(config(), uuid.uuid4().hex[:12], now)
        self.hub: Hub | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.writer: asyncio.Task[None] | None = None
        self.closed = self.torn_down = self.crashed = False
        self.close_code = None
        self.close_reason = ""
        self.connected_at, self.messages_out = now, 0

    async def connect_client(self) -> None:
        log_event(logger, "connect", conn=self.conn.connection_id, peer=self.peer)
        origin_ok = origin_allowed(self.scope, settings.ALLOWED_HOSTS)
        principal, unavailable, hub = None, False, get_hub()
        try:
            principal = await self.authenticate() if origin_ok else None
            if principal is not None:
                await hub.start()
        except Exception as exc:
            unavailable = True
            log_event(
                logger,
                "connect failed",
                logging.WARNING,
                conn=self.conn.connection_id,
                error=type(exc).__name__,
            )
        limits = ConnectionLimits(
            settings.WEBSOCKET_MAX_CONNECTIONS, settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER
        )
        user_id = principal.user_id if principal else 0
        admission = connection.Admission(
            origin_ok, hub.draining, limits.refusal(len(hub.subscribers), hub.count_for(user_id))
        )
        await self.accept()
        refused = connection.refusal(admission, principal, self.auth_error, unavailable)
        if refused is not None or principal is None:
            await self.close_now(refused or Close(CloseCode.UNAUTHORIZED, "unauthorized"))
            return
        self.principal, self.hub = principal, hub
        self.conn.accept(principal, hub.cursor, query_params(self.scope), time.monotonic())
        hub.register(self)
        log_event(
            logger,
            "accept",
            conn=self.conn.connection_id,
            user=principal.username,
            staff=principal.staff,
            cursor=hub.cursor,
        )
        await self.carry_out()

    async def carry_out(self) -> None:
        """Do what the connection asked; a scope check is awaited here, so
        frames after it wait their turn, as they would in any consumer."""
        for _ in range(10_000):
            checks = self.apply(self.conn.take_commands())
            if not checks:
                break
            for request in checks:
                try:
                    refused = await self.scope_refusal(request.scope)
                except Exception as exc:
                    self.conn.request_failed(request, type(exc).__name__)
                else:
                    self.conn.scope_checked(request, refused)
        self.flush()

    async def scope_refusal(self, scope: Scope) -> ErrorCode | None:
        if not await self.may_subscribe(scope):
            return ErrorCode.FORBIDDEN
        if scope.order_id is not None and not await self.order_visible(scope.order_id):
            return ErrorCode.NOT_FOUND
        return None

    def apply(self, commands: list[connection.Command]) -> list[CheckScope]:
        """Carry out what needs no waiting; return the scope checks, which do."""
        checks: list[CheckScope] = []
        hub = self.hub
        for command in commands:
            if isinstance(command, Join | Leave):
                if hub is not None:
                    act = hub.subscribe if isinstance(command, Join) else hub.unsubscribe
                    act(self, command.scope)
            elif isinstance(command, Note):
                self.note(command)
            elif isinstance(command, ReadHistory):
                task = asyncio.create_task(self.read_history(command))
                self.tasks.append(task)
                task.add_done_callback(self.tasks.remove)
            else:
                checks.append(command)
        return checks

    def note(self, note: Note) -> None:
        fields = dict(note.fields)
        counter = NOTE_METRICS.get(note.event)
        if counter is not None:
            counter.inc()
        if note.event == "resume":
            metrics.REPLAYED_EVENTS.inc(int(str(fields["replayed"])))
        level = logging.WARNING if note.event == "request failed" else logging.INFO
        log_event(logger, note.event, level, conn=self.conn.connection_id, **fields)

    async def read_history(self, request: ReadHistory) -> None:
        hub = self.hub
        recent = hub.recent if hub is not None and request.first else None
        events = recent.after(request.after, request.visibility) if recent else None
        try:
            if recent is not None and events is not None:
                answer = History(events, True, recent.cursor, 0, "memory")
            else:
                answer = await database_sync_to_async(replay.read_history)(
                    request.after, request.limit, request.visibility
                )
        except Exception as exc:
            self.conn.request_failed(request, type(exc).__name__)
        else:
            self.conn.history(request, answer, time.monotonic())
        self.flush()

    # Called by the hub

    @property
    def user_id(self) -> int:
        return self.conn.user_id

    def deliver(self, event: Event) -> None:
        conn = self.conn
        conn.event(event)
        if conn.outbox or conn.commands:
            self.flush()

    def tick(self, now: float) -> float | None:
        due = self.conn.tick(now, time.time(), self.hub.cursor if self.hub else 0)
        self.flush()
        return due

    def shutdown(self, code: int, reason: str) -> None:
        self.conn.shutdown(code, reason)
        self.flush()

    # Sending

    def flush(self) -> None:
        """Send what the connection queued: at once while the socket takes
        ready frames, else through the writer task."""
        conn = self.conn
        for _ in range(1_000_000):
            if conn.commands:
                self.apply(conn.take_commands())
            if self.closed or not conn.outbox or self.writer is not None:
                return
            item = conn.outbox[0]
            if self.send_now is None or isinstance(item, Close):
                self.start_writer()
                return
            conn.next_output()
            frame = frames.wire(item) if isinstance(item, Event) else text_frame(item.encode())
            if not self.send_direct(self.send_now, frame):
                self.send_now = None
                conn.outbox.insert(0, item)

    def start_writer(self) -> None:
        self.writer = asyncio.create_task(self.drain())
        self.tasks.append(self.writer)
        self.writer.add_done_callback(self.tasks.remove)

    async def drain(self) -> None:
        try:
            while (item := self.conn.next_output()) is not None:
                if isinstance(item, Close):
                    await self.close_now(item)
                    return
                text = frames.payload(frames.wire(item)) if isinstance(item, Event) else item
                if not await self.safe_send(text):
                    return
                if self.conn.commands:
                    self.apply(self.conn.take_commands())
        finally:
            self.writer = None

    def send_direct(self, send_now: Callable[[bytes], bool], frame: bytes) -> bool:
        """safe_send's synchronous path, which never raises either; False when
        this connection cannot take ready frames (it compresses)."""
        try:
            if not send_now(frame):
                return False
        except Exception as exc:
            if self.send_failed(exc):
                self.send_now = None
                self.conn.outbox.clear()
                self.conn.close(CloseCode.INTERNAL_ERROR, "send failed")
            return True
        self.sent_one()
        return True

    async def safe_send(self, text: str) -> bool:
        """Send one frame; never raises. A failed send closes the connection."""
        if self.closed:
            return False
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except Exception as exc:
            if self.send_failed(exc):
                await self.close_now(Close(CloseCode.INTERNAL_ERROR, "send failed"))
            return False
        self.sent_one()
        return True

    def sent_one(self) -> None:
        self.messages_out += 1
        metrics.MESSAGES_SENT.inc()

    def send_failed(self, exc: Exception) -> bool:
        """A peer that left (an OSError, or autobahn's Disconnected after a 1002
        or 1007, before the disconnect reaches us) tears the connection down.
        Anything else means the frame, not the socket, failed: a server bug,
        and True says the client is still owed a 1011."""
        metrics.SEND_FAILURES.inc()
        log_event(logger, "send failure", conn=self.conn.connection_id, error=type(exc).__name__)
        if isinstance(exc, OSError | Disconnected):
            self.closed = True
            self.close_code, self.close_reason = 1006, "send failed"
            self.teardown()
            return False
        logger.error("send failed conn=%s", self.conn.connection_id, exc_info=exc)
        self.crashed = True
        return True

    async def close_now(self, close: Close) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code, self.close_reason = close.code, close.reason
        try:
            # autobahn refuses an IntEnum: it checks type(code) is int.
            await self.base_send(
                {"type": "websocket.close", "code": int(close.code), "reason": close.reason}
            )
        except Exception as exc:
            log_event(
                logger, "send failure", conn=self.conn.connection_id, error=type(exc).__name__
            )
        self.teardown()

    # Teardown

    @property
    def peer(self) -> str:
        client = self.scope.get("client")
        return f"{client[0]}:{client[1]}" if client else "-"

    def teardown(self) -> None:
        """Runs once per connection: cancel its tasks, leave every group, count it."""
        if self.torn_down:
            return
        self.torn_down = self.closed = True
        current = asyncio.current_task()
        for task in tuple(self.tasks):
            if task is not current:
                task.cancel()
        self.conn.close(1006, "torn down")
        self.conn.outbox.clear()
        if self.hub is not None:
            self.hub.unregister(self, self.conn.scopes)
        code = self.close_code if self.close_code is not None else 1006
        metrics.CONNECTIONS_CLOSED.labels(code=str(code)).inc()
        log_event(
            logger,
            "close",
            # ERROR means a server bug; whatever the client does is INFO.
            logging.ERROR if self.crashed else logging.INFO,
            conn=self.conn.connection_id,
            user=self.principal.username or "-",
            code=code,
            reason=self.close_reason or "-",
            duration=round(time.monotonic() - self.connected_at, 3),
            messages_in=self.conn.messages_in,
            messages_out=self.messages_out,
        )
