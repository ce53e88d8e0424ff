"""The `/ws/orders/` consumer: the thin I/O layer around the sans-I/O protocol,
heartbeat, flow-control and limit state (DESIGN §2, §4).

Outbound frames funnel through one outbox drained by a short-lived writer
task, so sends stay in order and a close follows what was queued before it.
An idle connection holds no task and as little state as possible: instance
attributes stay under 30, the most CPython keeps inline (about 330 bytes)
before it gives each instance a dict of its own (about 1.6 KB).
Teardown is synchronous and guarded, so it runs exactly once on every path:
client close, server close, failed send, cancellation by daphne at shutdown,
or a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.delivery import replay
from realtime.delivery.events import Event
from realtime.delivery.hub import Hub, get_hub
from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER, log_event
from realtime.orders import visibility
from realtime.orders.service import latest_seq, pruned_through
from realtime.tokens import Principal, TokenError, verify_token
from realtime.ws import protocol
from realtime.ws.auth import ActiveUsers, origin_allowed, query_params, token_from_scope
from realtime.ws.flow import FlowControl
from realtime.ws.heartbeat import HeartbeatAction, HeartbeatState
from realtime.ws.limits import ConnectionLimits, Strikes, TokenBucket
from realtime.ws.protocol import CloseCode, ErrorCode, FrameError, Scope
from realtime.ws.wire import text_frame

logger = logging.getLogger(LIFECYCLE_LOGGER)

REPLAY_PAGE = 500
# Frames a replay queues before it waits for the writer to send them.
REPLAY_BACKLOG = 32
VIOLATION_LIMIT = 10
RATE_STRIKE_LIMIT = 10
# Per-connection memory of the newest version sent per order, which keeps a
# resume from repeating or regressing what live delivery already sent.
SENT_VERSIONS_LIMIT = 10_000
ACTIVE_USERS = ActiveUsers()


def direct_frame_sender(send: Any) -> Callable[[bytes], bool] | None:
    """daphne hands each application `partial(server.handle_reply, protocol)`;
    when that protocol is the project's (realtime.server) it takes a ready
    frame synchronously, which skips a task, a coroutine, daphne's dispatch and
    framing per frame. Any other server, or a test harness, goes through `send`."""
    args = getattr(send, "args", ())
    sender = getattr(args[0], "send_frame_now", None) if args else None
    return sender if callable(sender) else None


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(slots=True)
class Replay:
    """A running resume: its task, the live events held back until it ends,
    and the client's acks, which let a replay paused at MAX_LAG go on."""

    task: asyncio.Task[None] | None = None
    held: list[Event] = field(default_factory=list)
    acked: asyncio.Event = field(default_factory=asyncio.Event)


class OrdersConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Override the `authenticate`, `may_subscribe` and `order_visible` hooks to
    change who may connect and what they may see."""

    closed: bool
    close_code: int | None
    auth_error = ""
    send_now: Callable[[bytes], bool] | None = None

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

    def may_subscribe(self, scope: Scope) -> bool:
        return scope.kind != "all" or self.principal.staff

    async def order_visible(self, order_id: int) -> bool:
        return bool(
            await database_sync_to_async(visibility.order_visible)(
                order_id, self.principal.user_id, self.principal.staff
            )
        )

    # ASGI plumbing

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The hub, not a channel per connection, feeds this consumer, and its
        # handlers reach the database only through database_sync_to_async, so
        # neither a channel-layer receive nor Channels' per-message
        # close_old_connections thread hop is needed.
        self.scope = scope
        self.base_send = send
        self._init_state()
        self.send_now = direct_frame_sender(send)
        try:
            # One source, so no await_many_dispatch: its task and wait set per
            # message cost CPU, and about 2.7 KB per idle connection.
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            if self.close_code is None:
                shutting_down = self.hub is not None and self.hub.draining
                self.close_code = CloseCode.SERVICE_RESTART if shutting_down else 1006
                self.close_reason = "server shutdown" if shutting_down else "cancelled"
            raise
        except Exception:
            logger.exception("consumer crashed conn=%s", self.connection_id)
            self.crashed = True
            self.close_code, self.close_reason = CloseCode.INTERNAL_ERROR, "server error"
            if not self.closed:
                self.closed = True
                try:
                    await super().close(code=int(CloseCode.INTERNAL_ERROR))
                except Exception as exc:
                    logger.info("close after crash failed conn=%s: %s", self.connection_id, exc)
        finally:
            self.teardown()

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        elif message["type"] == "websocket.connect":
            await self.websocket_connect(message)
        elif message["type"] == "websocket.disconnect":
            await self.websocket_disconnect(message)

    def _init_state(self) -> None:
        now = time.monotonic()
        self.connection_id = uuid.uuid4().hex[:12]
        self.hub: Hub | None = None
        self.principal = Principal(0, "", False, 0.0)
        self.closed = False
        self.torn_down = False
        self.crashed = False
        self.close_code = None
        self.close_reason = ""
        self.connected_at = now
        self.messages_in = 0
        self.messages_out = 0
        self.scopes: set[Scope] = set()
        self.cursor = 0
        self.history_floor = 0
        self.sent_versions: dict[int, int] = {}
        # A list, not a deque: a deque allocates 64 slots (about 600 bytes) up
        # front, and an outbox is short (its bound is max_backlog).
        self.outbox: list[str | Close] = []
        self.replay: Replay | None = None
        self._writer: asyncio.Task[None] | None = None
        self.heartbeat = HeartbeatState.start(
            now, settings.WEBSOCKET_HEARTBEAT_INTERVAL, settings.WEBSOCKET_HEARTBEAT_TIMEOUT
        )
        self.flow = FlowControl(
            max_lag=settings.WEBSOCKET_MAX_LAG, max_backlog=max(64, settings.WEBSOCKET_MAX_LAG)
        )
        self.bucket = TokenBucket.full(settings.WEBSOCKET_RATE_LIMIT, now)
        self.violations = Strikes(VIOLATION_LIMIT)
        self.rate_strikes = Strikes(RATE_STRIKE_LIMIT)

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    @property
    def peer(self) -> str:
        client = self.scope.get("client")
        return f"{client[0]}:{client[1]}" if client else "-"

    # Connect, receive, disconnect

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        log_event(logger, "connect", conn=self.connection_id, peer=self.peer)
        if not origin_allowed(self.scope, settings.ALLOWED_HOSTS):
            await self.refuse(CloseCode.FORBIDDEN, "origin not allowed")
            return
        principal = await self.authenticate()
        if principal is None:
            await self.refuse(CloseCode.UNAUTHORIZED, self.auth_error or "unauthorized")
            return
        self.principal = principal
        hub = get_hub()
        await hub.start()
        limits = ConnectionLimits(
            settings.WEBSOCKET_MAX_CONNECTIONS, settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER
        )
        refusal = "server shutting down" if hub.draining else None
        refusal = refusal or limits.refusal(len(hub.subscribers), hub.count_for(self.user_id))
        if refusal:
            await self.refuse(CloseCode.TRY_AGAIN_LATER, refusal)
            return
        await self.accept()
        self.hub = hub
        hub.register(self)
        self.scopes.add(protocol.MINE)
        hub.subscribe(self, protocol.MINE)
        self.cursor = hub.cursor
        self.flow.ack(hub.cursor)
        log_event(
            logger,
            "accept",
            conn=self.connection_id,
            user=principal.username,
            staff=principal.staff,
            cursor=self.cursor,
        )
        self.push_frame(
            protocol.welcome(
                connection_id=self.connection_id,
                user=principal.username,
                heartbeat_interval=settings.WEBSOCKET_HEARTBEAT_INTERVAL,
                heartbeat_timeout=settings.WEBSOCKET_HEARTBEAT_TIMEOUT,
                cursor=self.cursor,
                max_lag=settings.WEBSOCKET_MAX_LAG,
            )
        )
        since = protocol.parse_since(query_params(self.scope).get("since"))
        if isinstance(since, FrameError):
            self.refuse_frame(since)
        elif since is not None:
            self.start_resume(since, None)

    async def refuse(self, code: int, reason: str) -> None:
        """Accept, then close with `code`, so a browser can see why."""
        await self.accept()
        await self.close_now(Close(code, reason))

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        now = time.monotonic()
        self.messages_in += 1
        metrics.MESSAGES_RECEIVED.inc()
        self.heartbeat.received(now)
        text = message.get("text")
        if text is None:
            self.refuse_frame(FrameError(ErrorCode.BAD_MESSAGE, "binary frames are not supported"))
            return
        limit = settings.WEBSOCKET_MAX_MESSAGE_BYTES
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            self.push_close(CloseCode.TOO_LARGE, f"frame larger than {limit} bytes")
            return
        if not self.bucket.allow(now):
            self.push_frame(protocol.error(ErrorCode.RATE_LIMITED, "too many frames"))
            if self.rate_strikes.strike():
                self.push_close(CloseCode.RATE_LIMITED, "rate limit exceeded")
            return
        frame = protocol.parse_client_frame(text)
        if isinstance(frame, FrameError):
            self.refuse_frame(frame)
        elif isinstance(frame, protocol.Heartbeat):
            self.push_frame(protocol.heartbeat_ack(frame.ts, frame.ref))
        elif isinstance(frame, protocol.HeartbeatAck):
            self.acknowledge(frame.cursor)
        elif isinstance(frame, protocol.Subscribe):
            await self.subscribe(frame.scope, frame.ref)
        elif isinstance(frame, protocol.Unsubscribe):
            self.unsubscribe(frame.scope, frame.ref)
        else:
            self.start_resume(frame.since, frame.ref)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self.closed = True
            self.close_code = int(message.get("code") or 1005)
            self.close_reason = "client closed" if self.close_code < 1006 else "connection lost"
        raise StopConsumer()

    # Frames from the client

    def refuse_frame(self, error: FrameError) -> None:
        self.push_frame(protocol.error(error.code, error.detail, error.ref))
        if self.violations.strike():
            self.push_close(CloseCode.PROTOCOL_VIOLATION, "repeated protocol violations")

    async def subscribe(self, scope: Scope, ref: protocol.Ref) -> None:
        if not self.may_subscribe(scope):
            self.refuse_frame(FrameError(ErrorCode.FORBIDDEN, f"may not subscribe to {scope}", ref))
            return
        if scope.kind == "order":
            assert scope.order_id is not None
            if not await self.order_visible(scope.order_id):
                self.refuse_frame(FrameError(ErrorCode.NOT_FOUND, f"no such order: {scope}", ref))
                return
        if self.closed:
            return
        if scope not in self.scopes and self.hub is not None:
            self.scopes.add(scope)
            self.hub.subscribe(self, scope)
        log_event(logger, "subscribe", conn=self.connection_id, scope=str(scope))
        self.push_frame(protocol.subscribed(scope, ref))

    def unsubscribe(self, scope: Scope, ref: protocol.Ref) -> None:
        if scope in self.scopes and self.hub is not None:
            self.scopes.discard(scope)
            self.hub.unsubscribe(self, scope)
        self.push_frame(protocol.unsubscribed(scope, ref))

    def acknowledge(self, cursor: int | None) -> None:
        if cursor is None:
            return
        self.flow.ack(min(cursor, self.cursor))
        if self.replay is not None:
            self.replay.acked.set()

    # Delivery (called by the hub)

    def deliver(self, event: Event) -> None:
        if self.closed:
            return
        if self.replay is not None:
            held = self.replay.held
            held.append(event)
            if len(held) > self.flow.max_backlog:
                self.slow_consumer(f"{len(held)} events held during resume")
            return
        if event.seq > self.cursor:
            self.send_event(event)

    def send_event(self, event: Event) -> bool:
        """Queue an event unless this connection already sent it or a newer version."""
        if self.sent_versions.get(event.order_id, 0) >= event.version:
            return False
        if len(self.sent_versions) >= SENT_VERSIONS_LIMIT:
            self.sent_versions.clear()
            self.history_floor = self.cursor
        self.sent_versions[event.order_id] = event.version
        self.cursor = max(self.cursor, event.seq)
        self.flow.sent(event.seq)
        self.push(event.frame, event.wire)
        overloaded = self.flow.overloaded(len(self.outbox))
        if overloaded:
            self.slow_consumer(overloaded)
        return True

    def tick(self, now: float) -> float | None:
        """A heartbeat, a 4408 or a 4401 when due; returns when it is next due."""
        if self.closed:
            return None
        token_left = self.principal.expires_at - time.time()
        if token_left <= 0:
            self.push_close(CloseCode.UNAUTHORIZED, "token expired")
            return None
        action = self.heartbeat.poll(now)
        if action is HeartbeatAction.TIMEOUT:
            silence = round(self.heartbeat.silence(now), 3)
            log_event(logger, "heartbeat timeout", conn=self.connection_id, silence=silence)
            metrics.HEARTBEAT_TIMEOUTS.inc()
            self.push_close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            return None
        if action is HeartbeatAction.SEND:
            self.heartbeat.sent(now)
            cursor = self.cursor if self.replay is not None or self.hub is None else self.hub.cursor
            self.push_frame(protocol.heartbeat(time.time(), cursor))
        return min(self.heartbeat.next_due(), now + token_left)

    def shutdown(self, code: int, reason: str) -> None:
        self.push_close(code, reason)

    def slow_consumer(self, why: str) -> None:
        if self.closed:
            return
        log_event(logger, "slow consumer", conn=self.connection_id, why=why, lag=self.flow.lag)
        metrics.SLOW_CONSUMER_CLOSES.inc()
        self.outbox.clear()
        if self.replay is not None:
            self.replay.held.clear()
        self.push_close(CloseCode.SLOW_CONSUMER, "slow consumer")

    # Resume

    def start_resume(self, since: int, ref: protocol.Ref) -> None:
        if self.replay is not None:
            self.refuse_frame(FrameError(ErrorCode.BAD_MESSAGE, "a resume is already running", ref))
            return
        self.replay = Replay()
        self.flow.rewind(since)
        self.replay.task = asyncio.create_task(self.resume(since, ref))

    async def resume(self, since: int, ref: protocol.Ref) -> None:
        try:
            seen = replay.Visibility(
                user_id=self.user_id,
                everything=any(s.kind == "all" for s in self.scopes),
                order_ids=frozenset(s.order_id for s in self.scopes if s.order_id is not None),
                mine=protocol.MINE in self.scopes,
            )
            hub = self.hub
            recent = hub.recent.after(since, seen) if hub is not None else None
            if hub is not None and recent is not None and since >= self.history_floor:
                source, latest = "memory", hub.recent.cursor
                replayed = await self.replay_events(recent)
            else:
                source = "database"
                horizon = await database_sync_to_async(pruned_through)()
                latest = await database_sync_to_async(latest_seq)()
                if since < max(horizon, self.history_floor) or since > latest:
                    reason = "history_gone" if since <= latest else "since_ahead"
                    self.cursor = max(self.cursor, latest)
                    self.push_frame(protocol.resync_required(reason, self.cursor, ref))
                    log_event(logger, "resync", conn=self.connection_id, since=since, reason=reason)
                    return
                replayed, last = await self.replay_stored(since, seen)
                latest = max(latest, last)
            if replayed is None:
                return
            self.cursor = max(self.cursor, latest)
            metrics.RESUME_REPLAYS.inc()
            metrics.REPLAYED_EVENTS.inc(replayed)
            log_event(
                logger,
                "resume",
                conn=self.connection_id,
                since=since,
                replayed=replayed,
                source=source,
            )
            self.push_frame(protocol.resumed(since, replayed, self.cursor, ref))
        finally:
            held = self.replay.held if self.replay is not None else []
            self.replay = None
            for event in held:
                if event.seq > self.cursor:
                    self.send_event(event)

    async def replay_stored(self, since: int, seen: replay.Visibility) -> tuple[int | None, int]:
        """Replay from the database, a page at a time: how many went (None once
        closed) and the last seq read."""
        replayed, after = 0, since
        for _ in range(1_000_000 // REPLAY_PAGE):
            page = await database_sync_to_async(replay.fetch_events)(
                after, limit=REPLAY_PAGE, visibility=seen
            )
            sent = await self.replay_events(page)
            if sent is None:
                return None, after
            replayed += sent
            after = page[-1].seq if page else after
            if len(page) < REPLAY_PAGE:
                break
        return replayed, after

    async def replay_events(self, events: list[Event]) -> int | None:
        """Send `events` at the client's pace: how many went, or None once closed."""
        replayed = 0
        for event in events:
            if self.closed:
                return None
            if self.send_event(event):
                replayed += 1
                await self.wait_for_room()
        return replayed

    async def wait_for_room(self) -> None:
        """Pace a replay: let the writer drain the outbox, and pause at MAX_LAG
        unacked events until the client acks (4409 if it never does)."""
        writer = self._writer
        if len(self.outbox) >= REPLAY_BACKLOG and writer is not None and not writer.done():
            await asyncio.shield(writer)
        if self.flow.lag < self.flow.max_lag or self.replay is None:
            return
        acked = self.replay.acked
        acked.clear()
        try:
            await asyncio.wait_for(acked.wait(), self.heartbeat.timeout)
        except TimeoutError:
            self.slow_consumer("no ack during resume")

    # Sending

    def push_frame(self, frame: dict[str, Any]) -> None:
        self.push(protocol.encode(frame))

    def push_close(self, code: int, reason: str) -> None:
        self.push(Close(code, reason))

    def push(self, item: str | Close, wire: bytes | None = None) -> None:
        """Queue `item`, or send a text frame at once when nothing is queued;
        `wire` is the frame already built, for a broadcast."""
        if self.closed:
            return
        idle = not self.outbox and (self._writer is None or self._writer.done())
        if idle and self.send_now is not None and isinstance(item, str):
            if self.send_direct(self.send_now, wire or text_frame(item.encode())):
                return
            self.send_now = None
        self.outbox.append(item)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self.drain())

    async def drain(self) -> None:
        outbox = self.outbox
        try:
            while outbox:
                item = outbox.pop(0)
                if isinstance(item, Close):
                    await self.close_now(item)
                    return
                if not await self.safe_send(item):
                    return
        finally:
            # A finished task keeps its coroutine; an idle connection holds none.
            if self._writer is asyncio.current_task():
                self._writer = None

    def send_direct(self, send_now: Callable[[bytes], bool], frame: bytes) -> bool:
        """The synchronous path of safe_send, which never raises either; False
        when this connection cannot take frames this way."""
        try:
            if not send_now(frame):
                return False
        except Exception as exc:
            if self.send_failed(exc):
                self.send_now = None
                self.push_close(CloseCode.INTERNAL_ERROR, "send failed")
            return True
        self.sent_one()
        return True

    async def safe_send(self, text: str) -> bool:
        """Send one frame; never raises. A failed send closes the connection."""
        if self.closed:
            return False
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except asyncio.CancelledError:
            raise
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
        """Count and log a failed send. A peer that left (an OSError, or
        autobahn's Disconnected after a 1002 or 1007, before the disconnect
        reaches us) tears the connection down. Anything else means the frame,
        not the socket, failed: a server bug, and True says the client is
        still owed a 1011."""
        metrics.SEND_FAILURES.inc()
        log_event(logger, "send failure", conn=self.connection_id, error=type(exc).__name__)
        if isinstance(exc, OSError | Disconnected):
            self.closed = True
            self.close_code, self.close_reason = 1006, "send failed"
            self.teardown()
            return False
        logger.error("send failed conn=%s", self.connection_id, exc_info=exc)
        self.crashed = True
        return True

    async def close_now(self, close: Close) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code, self.close_reason = close.code, close.reason
        self.outbox.clear()
        try:
            await self.base_send(
                # autobahn refuses an IntEnum: it checks type(code) is int.
                {"type": "websocket.close", "code": int(close.code), "reason": close.reason}
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_event(logger, "send failure", conn=self.connection_id, error=type(exc).__name__)
        self.teardown()

    # Teardown

    def teardown(self) -> None:
        """Runs once per connection: cancel its tasks, leave every group, count it."""
        if self.torn_down:
            return
        self.torn_down = True
        self.closed = True
        current = asyncio.current_task()
        replay, self.replay = self.replay, None
        for task in (self._writer, replay.task if replay is not None else None):
            if task is not None and task is not current and not task.done():
                task.cancel()
        self._writer = None
        self.outbox.clear()
        self.sent_versions.clear()
        if self.hub is not None:
            self.hub.unregister(self, self.scopes)
        self.scopes.clear()
        code = self.close_code if self.close_code is not None else 1006
        metrics.CONNECTIONS_CLOSED.labels(code=str(code)).inc()
        log_event(
            logger,
            "close",
            # ERROR means a server bug; whatever the client does is INFO.
            logging.ERROR if self.crashed else logging.INFO,
            conn=self.connection_id,
            user=self.principal.username or "-",
            code=code,
            reason=self.close_reason or "-",
            duration=round(time.monotonic() - self.connected_at, 3),
            messages_in=self.messages_in,
            messages_out=self.messages_out,
        )
