"""What every transport's adapter does around `realtime.core.connection`
(docs/architecture.md): admission, the hooks that decide who may connect
and what they may see, carrying out what the connection asks (hub
membership, scope checks, database reads, log lines), the hub's calls and a
teardown that runs once on every path. The WebSocket consumer
(`realtime.ws.consumer`) and the Server-Sent Events stream
(`realtime.sse.stream`) add only their I/O.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from realtime import auth, conf
from realtime.auth import standings
from realtime.auth.principal import AuthenticationFailed, Principal
from realtime.auth.scope import origin_allowed, with_bearer
from realtime.auth.standings import Standing
from realtime.codes import CloseCode, ErrorCode
from realtime.core import connection, revocation
from realtime.core.connection import (
    Admission,
    Authenticate,
    CheckScope,
    Close,
    Join,
    Leave,
    Note,
    ReadHistory,
)
from realtime.core.journal import Journal
from realtime.core.limits import ConnectionLimits, Limit
from realtime.core.replays import ReplayTurns
from realtime.core.sending import Sender
from realtime.delivery import replay
from realtime.delivery.events import Event
from realtime.delivery.hub import Hub, get_hub
from realtime.delivery.scopes import Scope

REPLAY_TURNS = ReplayTurns(
    conf.settings.WEBSOCKET_MAX_REPLAYS_PER_USER, conf.settings.WEBSOCKET_MAX_REPLAYS
)
ANONYMOUS = Principal(0, "", False, 0.0)

_CONFIGS: dict[connection.Config, connection.Config] = {}
_VISIBLE: dict[str, Callable[[int, Principal], bool]] = {}


def subject_visible() -> Callable[[int, Principal], bool]:
    """REALTIME_SUBJECT_VISIBLE: may a principal watch a subject that is not theirs?"""
    path = conf.settings.REALTIME_SUBJECT_VISIBLE
    found = _VISIBLE.get(path)
    if found is None:
        found = _VISIBLE[path] = import_string(path)
    return found


def config() -> connection.Config:
    """The settings as a Config, one object shared by every connection."""
    fresh = connection.Config(
        heartbeat_interval=conf.settings.WEBSOCKET_HEARTBEAT_INTERVAL,
        heartbeat_timeout=conf.settings.WEBSOCKET_HEARTBEAT_TIMEOUT,
        max_lag=conf.settings.WEBSOCKET_MAX_LAG,
        max_message_bytes=conf.settings.WEBSOCKET_MAX_MESSAGE_BYTES,
        rate_limit=conf.settings.WEBSOCKET_RATE_LIMIT,
        replay_pages=conf.settings.WEBSOCKET_REPLAY_PAGES,
        worker=conf.settings.WORKER,
    )
    return _CONFIGS.setdefault(fresh, fresh)


class Endpoint:
    """Who may connect comes from REALTIME_AUTHENTICATE, who may watch
    `order:<id>` from REALTIME_SUBJECT_VISIBLE; a subclass may also override
    `authenticate`, `verify`, `may_subscribe` and `order_visible`. A hook that
    raises (but for AuthenticationFailed, a 4401) stands for a backing service
    that is away: the client is told to retry (1013, 503 or an `unavailable`
    error), never refused for good."""

    # Which transport this is, on every log line and metric.
    transport: ClassVar[str]
    journal: ClassVar[Journal]

    auth_error = ""
    torn_down = False
    # Replays reading history; most connections never have one.
    reads: tuple[asyncio.Task[None], ...] = ()
    # Answers to scope checks made before the connection opened.
    checked: dict[Scope, ErrorCode | None] | None = None

    conn: connection.Connection
    out: Sender
    connected_at: float
    scope: dict[str, Any]
    principal: Principal
    hub: Hub | None

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Callable[..., Awaitable[None]]:
        """The ASGI application: one endpoint per connection, as channels'
        `as_asgi`. It hands back the endpoint's own coroutine instead of
        awaiting it in one of its own, so a connection open for hours holds
        one coroutine frame fewer (docs/benchmarks.md)."""

        def app(scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
            endpoint: Any = cls(**initkwargs)
            return endpoint(scope, receive, send)  # type: ignore[no-any-return]

        # asgiref would take a plain function for an ASGI 2 application.
        app._asgi_single_callable = True  # type: ignore[attr-defined]
        app.consumer_class = cls  # type: ignore[attr-defined]
        app.consumer_initkwargs = initkwargs  # type: ignore[attr-defined]
        return app

    # Hooks

    async def authenticate(self) -> Principal | None:
        """Who the connect's scope speaks for (REALTIME_AUTHENTICATE), or None
        with the reason in `auth_error` (4401)."""
        return await self.identify(self.scope)

    async def verify(self, token: str) -> Principal | None:
        """Who an `auth` frame's token speaks for: the same authenticator, given
        the token as the connection's bearer token."""
        return await self.identify(with_bearer(self.scope, token))

    async def identify(self, scope: dict[str, Any]) -> Principal | None:
        try:
            principal = await auth.authenticate(scope)
        except AuthenticationFailed as exc:
            self.auth_error = str(exc) or "unauthorized"
            return None
        if principal is None:
            self.auth_error = self.auth_error or "unauthorized"
        return principal

    async def may_subscribe(self, scope: Scope) -> bool:
        return scope.kind != "all" or self.principal.staff

    async def order_visible(self, order_id: int) -> bool:
        """May this connection watch `order:<order_id>` (REALTIME_SUBJECT_VISIBLE)?"""
        visible = subject_visible()
        return bool(await database_sync_to_async(visible)(order_id, self.principal))

    # Opening

    def new_connection(self) -> connection.Connection:
        now = time.monotonic()
        self.connected_at = now
        return connection.Connection(config(), uuid.uuid4().hex[:12], now)

    async def admit(self, token: str = "") -> tuple[Principal | None, Close | None, Admission]:
        """Who is connecting and whether they may: a principal and no close,
        or the close that refuses them (4401, 4403 or 1013). With `token`,
        the connection's first frame gave it: it is checked as `verify` would."""
        if token:
            self.auth_error = ""
        else:
            self.journal.connecting(self.conn, self.scope.get("client"))
        origin_ok = origin_allowed(self.scope, settings.ALLOWED_HOSTS)
        principal, unavailable, hub = None, False, get_hub()
        try:
            if origin_ok:
                principal = await (self.verify(token) if token else self.authenticate())
            if principal is not None:
                await hub.start()
        except Exception as exc:
            unavailable = True
            self.journal.record(self.conn, Note("connect failed", (("error", type(exc).__name__),)))
        if principal is not None:
            # Named on the close line, even when refused below.
            self.principal = principal
        limits = ConnectionLimits(
            conf.settings.WEBSOCKET_MAX_CONNECTIONS,
            conf.settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER,
            conf.settings.WORKERS,
        )
        user_id = principal.user_id if principal else 0
        over = limits.refusal(len(hub.subscribers), hub.count_for(user_id))
        admission = Admission(origin_ok, hub.draining, over)
        refused = connection.refusal(admission, principal, self.auth_error, unavailable)
        if refused is None and principal is None:
            refused = Close(CloseCode.UNAUTHORIZED, "unauthorized")
        if over is not None and refused == Close(CloseCode.TRY_AGAIN_LATER, over.reason):
            self.limit_reached(over, principal)
        return principal, refused, admission

    def limit_reached(self, limit: Limit, principal: Principal | None) -> None:
        """One WARNING per user and minute (the log's repeat filter) when a cap bites."""
        who = principal.username if principal is not None and limit.per_user else "server"
        self.journal.record(
            self.conn, Note("connection limit", (("user", who), ("limit", limit.reason)))
        )

    async def open(self, principal: Principal, query: dict[str, str]) -> None:
        """Start the connection's life: welcome, scopes, replay, heartbeats."""
        hub = get_hub()
        self.principal, self.hub = principal, hub
        self.conn.accept(principal, hub.cursor, query, time.monotonic())
        hub.register(self)
        revocation.ensure_running(
            hub,
            auth.STANDINGS,
            database_sync_to_async(standings.standings),
            conf.settings.AUTH_RECHECK_INTERVAL,
        )
        self.journal.accepted(self.conn, principal.username, principal.staff, hub.cursor)
        await self.carry_out()

    # Carrying out what the connection asks

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
        checked = self.checked
        if checked is not None and scope in checked:
            return checked.pop(scope)
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
                self.journal.record(self.conn, command)
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
        principal = self.principal
        demoted = principal.staff and not standing.staff
        signed_out = principal.credential not in (None, standing.credential)
        self.principal = dataclasses.replace(principal, staff=standing.staff)
        self.conn.standing(standing.active, standing.staff, signed_out=signed_out, demoted=demoted)
        checks = self.apply(self.conn.take_commands())
        if checks:
            task = asyncio.create_task(self.answer_all(checks))
            self.reads = (*self.reads, task)
        self.out.flush()

    async def answer_all(self, requests: list[CheckScope | Authenticate]) -> None:
        """The checks a recheck asked for, then whatever they asked in turn."""
        try:
            for request in requests:
                try:
                    await self.answer(request)
                except Exception as exc:
                    self.conn.request_failed(request, type(exc).__name__)
            await self.carry_out()
        finally:
            current = asyncio.current_task()
            self.reads = tuple(t for t in self.reads if t is not current)

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
        self.journal.closed(self.conn, out, self.principal.username, self.connected_at)
