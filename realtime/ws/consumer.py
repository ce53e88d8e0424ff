"""The `/ws/orders/` consumer: the I/O around `realtime.ws.connection`
(docs/architecture.md). It feeds the connection what arrives (client frames,
hub events, ticks, answers from the database) and carries out what the
connection asks: hub membership, scope checks, database reads and log lines;
`realtime.ws.sending` sends its frames. Teardown runs once on every path:
client close, server close, failed send, cancellation at shutdown, a crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.codes import CloseCode, ErrorCode
from realtime.delivery import replay
from realtime.delivery.events import Event
from realtime.delivery.hub import Hub, get_hub
from realtime.delivery.scopes import Scope
from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER
from realtime.orders import standings, visibility
from realtime.orders.standings import Standing
from realtime.tokens import Principal, TokenError, verify_token
from realtime.ws import connection, journal, revocation
from realtime.ws.auth import Standings, origin_allowed, query_params, token_from_scope
from realtime.ws.connection import (
    Authenticate,
    CheckScope,
    Close,
    Join,
    Leave,
    Note,
    ReadHistory,
)
from realtime.ws.limits import ConnectionLimits
from realtime.ws.replays import ReplayTurns
from realtime.ws.sending import Sender
from realtime.ws.wire import FRAME_SENDER

logger = logging.getLogger(LIFECYCLE_LOGGER)
STANDINGS = Standings(ttl=settings.AUTH_RECHECK_INTERVAL)
REPLAY_TURNS = ReplayTurns(settings.WEBSOCKET_MAX_REPLAYS_PER_USER, settings.WEBSOCKET_MAX_REPLAYS)
ANONYMOUS = Principal(0, "", False, 0.0)


_CONFIGS: dict[connection.Config, connection.Config] = {}


def config() -> connection.Config:
    """The settings as a Config, one object shared by every connection."""
    fresh = connection.Config(
        heartbeat_interval=settings.WEBSOCKET_HEARTBEAT_INTERVAL,
        heartbeat_timeout=settings.WEBSOCKET_HEARTBEAT_TIMEOUT,
        max_lag=settings.WEBSOCKET_MAX_LAG,
        max_message_bytes=settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        rate_limit=settings.WEBSOCKET_RATE_LIMIT,
        replay_pages=settings.WEBSOCKET_REPLAY_PAGES,
        worker=settings.WORKER,
    )
    return _CONFIGS.setdefault(fresh, fresh)


class OrdersConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Override `authenticate`, `may_subscribe` and `order_visible` to change
    who may connect and what they may see. A hook that raises stands for a
    backing service that is away: the client is told to retry (1013 or an
    `unavailable` error), never refused for good."""

    auth_error = ""
    torn_down = False
    # Replays reading history; most connections never have one.
    reads: tuple[asyncio.Task[None], ...] = ()

    # Hooks

    async def authenticate(self) -> Principal | None:
        """The principal of a valid token for an active user, or None (4401)."""
        principal = await self.verify(token_from_scope(self.scope))
        if principal is None:
            self.auth_error = self.auth_error or "unauthorized"
        return principal

    async def verify(self, token: str) -> Principal | None:
        """The principal `token` stands for, with the staff flag the database
        holds now, or None with the reason in `auth_error`. Used at connect
        and for each `auth` frame."""
        try:
            principal = verify_token(token)
        except TokenError as exc:
            self.auth_error = str(exc)
            return None
        standing = await STANDINGS.check(
            principal.user_id, database_sync_to_async(standings.standing)
        )
        if not standing.active:
            self.auth_error = "unknown or inactive user"
            return None
        return dataclasses.replace(principal, staff=standing.staff)

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
        out = self.out
        try:
            message = await receive()
            if message["type"] == "websocket.connect":
                await self.connect_client()
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
        self.hub: Hub | None = None

    def attach(self, scope: dict[str, Any], send: Any) -> None:
        # Channels' accept() sends through base_send.
        self.scope, self.base_send = scope, send
        now = time.monotonic()
        self.conn = connection.Connection(config(), uuid.uuid4().hex[:12], now)
        send_now = scope.get("extensions", {}).pop(FRAME_SENDER, None)
        self.out = Sender(self.conn, send, send_now, self)
        self.connected_at = now

    async def connect_client(self) -> None:
        journal.connecting(self.conn, self.scope.get("client"))
        origin_ok = origin_allowed(self.scope, settings.ALLOWED_HOSTS)
        principal, unavailable, hub = None, False, get_hub()
        try:
            principal = await self.authenticate() if origin_ok else None
            if principal is not None:
                await hub.start()
        except Exception as exc:
            unavailable = True
            journal.record(self.conn, Note("connect failed", (("error", type(exc).__name__),)))
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
            await self.out.close_now(refused or Close(CloseCode.UNAUTHORIZED, "unauthorized"))
            return
        self.principal, self.hub = principal, hub
        self.conn.accept(principal, hub.cursor, query_params(self.scope), time.monotonic())
        hub.register(self)
        revocation.ensure_running(
            hub,
            STANDINGS,
            database_sync_to_async(standings.standings),
            settings.AUTH_RECHECK_INTERVAL,
        )
        journal.accepted(self.conn, principal.username, principal.staff, hub.cursor)
        await self.carry_out()

    async def carry_out(self) -> None:
        """Do what the connection asked; a scope check is awaited here, so
        frames after it wait their turn, as they would in any consumer."""
        for _ in range(10_000):
            requests = self.apply(self.conn.take_commands())
            if not requests:
                break
            for request in requests:
                try:
                    await self.answer(request)
                except Exception as exc:
                    self.conn.request_failed(request, type(exc).__name__)
        self.out.flush()

    async def answer(self, request: CheckScope | Authenticate) -> None:
        if isinstance(request, Authenticate):
            self.auth_error = ""
            principal = await self.verify(request.token)
            if principal is not None and principal.user_id == self.principal.user_id:
                self.principal = principal
            self.conn.authenticated(request, principal, self.auth_error)
        else:
            self.conn.scope_checked(request, await self.scope_refusal(request.scope))

    async def scope_refusal(self, scope: Scope) -> ErrorCode | None:
        if not await self.may_subscribe(scope):
            return ErrorCode.FORBIDDEN
        if scope.order_id is not None and not await self.order_visible(scope.order_id):
            return ErrorCode.NOT_FOUND
        return None

    def apply(self, commands: list[connection.Command]) -> list[CheckScope | Authenticate]:
        """Carry out what needs no waiting; return the checks, which do."""
        checks: list[CheckScope | Authenticate] = []
        hub = self.hub
        for command in commands:
            if isinstance(command, Join | Leave):
                if hub is not None:
                    act = hub.subscribe if isinstance(command, Join) else hub.unsubscribe
                    act(self, command.scope)
            elif isinstance(command, Note):
                journal.record(self.conn, command)
            elif isinstance(command, ReadHistory):
                task = asyncio.create_task(self.read_history(command))
                self.reads = (*self.reads, task)
            else:
                checks.append(command)
        return checks

    def apply_pending(self) -> None:
        """What the connection asked while its frames went out (never a scope check)."""
        self.apply(self.conn.take_commands())

    async def read_history(self, request: ReadHistory) -> None:
        recent = self.hub.recent if self.hub is not None and request.first else None
        try:
            async with REPLAY_TURNS.turn(self.conn.user_id):
                answer = await replay.read(recent, request.after, request.limit, request.visibility)
        except Exception as exc:
            self.conn.request_failed(request, type(exc).__name__)
        else:
            self.conn.history(request, answer, time.monotonic())
        finally:
            current = asyncio.current_task()
            self.reads = tuple(t for t in self.reads if t is not current)
        self.out.flush()

    # Called by the hub

    @property
    def user_id(self) -> int:
        return self.conn.user_id

    def deliver(self, event: Event) -> None:
        conn = self.conn
        conn.event(event)
        if conn.outbox or conn.commands:
            self.out.flush()

    def tick(self, now: float) -> float | None:
        due = self.conn.tick(now, time.time(), self.hub.cursor if self.hub else 0)
        self.out.flush()
        return due

    def standing_changed(self, standing: Standing) -> None:
        """Called every AUTH_RECHECK_INTERVAL with what the database says now."""
        self.principal = dataclasses.replace(self.principal, staff=standing.staff)
        self.conn.standing(standing.active, standing.staff)
        self.apply_pending()
        self.out.flush()

    def shutdown(self, code: int, reason: str) -> None:
        self.conn.close(code, reason)
        self.out.flush()

    # Teardown

    def teardown(self) -> None:
        """Runs once per connection: cancel its tasks, leave every group, count it."""
        if self.torn_down:
            return
        self.torn_down = True
        out = self.out
        out.lost(1006, "torn down")
        current = asyncio.current_task()
        for task in (*self.reads, out.writer):
            if task is not None and task is not current:
                task.cancel()
        self.conn.close(1006, "torn down")
        self.conn.outbox.clear()
        if self.hub is not None:
            self.hub.unregister(self, self.conn.scopes)
        journal.closed(self.conn, out, self.principal.username, self.connected_at)
