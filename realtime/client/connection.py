"""`OrdersClient`: an asyncio client for `/ws/orders/` (on `websockets`) or
`/sse/orders/` (Server-Sent Events, where WebSockets are refused) that
reconnects, resumes and dedupes, so its user sees every update once.

    async with OrdersClient(url, token, transport="auto") as client:
        async for item in client:
            ...  # an Update, or a StateChange of the connection

Frames go through the sans-I/O `Session` whatever the transport; this module
only connects, reads with a silence watchdog, sends what the session asks,
sleeps between tries, renews the token and fetches a snapshot after
`resync_required`. `transport="auto"` tries the WebSocket first and moves to
the stream for the rest of the session when the upgrade is refused by
something other than the server's own answer (a close code).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any, Literal

import h11
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from realtime.client.backoff import Backoff
from realtime.client.endpoints import STREAM_PATH, WEBSOCKET_PATH, Endpoints
from realtime.client.policy import (
    ABNORMAL,
    Action,
    action_for,
    handshake_refusal,
    stream_refusal,
)
from realtime.client.session import ProtocolError, Session, Stats, Update
from realtime.client.store import OrderStore
from realtime.client.streaming import EventStream, StreamEnded, StreamRefused
from realtime.codes import CloseCode, describe

logger = logging.getLogger("realtime.client")

# The iterator's buffer: when the application stops reading, the client stops
# reading the socket too, the server sees the lag, and 4409 plus a resume
# follow instead of unbounded memory here.
BUFFER = 10_000
SILENCE_FACTOR = 2.0
SNAPSHOT_PAGE = 500
SNAPSHOT_PAGES = 1000
RENEW_RETRY = 5.0
AUTHENTICATED_WAIT = 10.0


class State(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True)
class StateChange:
    state: State
    code: int | None = None
    reason: str = ""
    retry_in: float | None = None
    cursor: int | None = None
    # Which worker of `realtime serve --workers N` answered (connected only).
    worker: int | None = None
    # "websocket" or "sse" (connected only).
    transport: str | None = None


@dataclass(frozen=True)
class Resynced:
    """The server could not replay from the cursor (`resync_required`): the
    client moved to `cursor` and refetched the orders it may see (`orders` of
    them), unless that refetch failed (`error`) or there is no snapshot path."""

    cursor: int | None
    orders: int | None = None
    error: str | None = None


class ClientStopped(Exception):
    """The server closed with a code that retrying cannot fix (docs/protocol.md)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} ({reason})")
        self.code = code
        self.reason = reason


Item = Update | StateChange | Resynced
Transport = Literal["websocket", "sse", "auto"]
TRANSPORTS = ("websocket", "sse", "auto")


@dataclass(frozen=True)
class _Closed:
    code: int
    reason: str
    # Reconnect at once, on the stream from now on (the upgrade was refused).
    fall_back: bool = False
    # Reconnect at once (the token was renewed, which a stream does by reconnecting).
    again: bool = False


TokenProvider = Callable[[], str | Awaitable[str]]


class OrdersClient:
    """`token` is a bearer token, or a function (sync or async) that returns a
    fresh one: it is called at every connect and before expiry. With a plain
    token, renewal uses `POST refresh_path` (the demo's; None: no renewal).
    `ws_path` and `sse_path` name where the server mounts its endpoints;
    `snapshot_path` is the list fetched after `resync_required` (None: none)."""

    def __init__(
        self,
        url: str,
        token: str | TokenProvider,
        *,
        since: int | None = None,
        scopes: tuple[str, ...] = ("mine",),
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        open_timeout: float = 10.0,
        api_url: str | None = None,
        rng: random.Random | None = None,
        transport: Transport = "websocket",
        ws_path: str = WEBSOCKET_PATH,
        sse_path: str = STREAM_PATH,
        refresh_path: str | None = "/api/token/refresh/",
        snapshot_path: str | None = "/api/orders/",
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        self.endpoints = Endpoints.of(url, api_url, ws_path, sse_path)
        self.provider: TokenProvider | None = None if isinstance(token, str) else token
        self.token = token if isinstance(token, str) else ""
        self.refresh_path = refresh_path
        self.snapshot_path = snapshot_path
        self.transport: Transport = transport
        # What this session connects with now: "auto" starts with a WebSocket.
        self.using = "sse" if transport == "sse" else "websocket"
        self.session = Session(since, scopes)
        self.backoff = Backoff(backoff_base, backoff_cap, rng or random.Random())
        self.open_timeout = open_timeout
        self.state = State.CLOSED
        self._items: asyncio.Queue[Item | ClientStopped | None] = asyncio.Queue(BUFFER)
        self._runner: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._stream: EventStream | None = None
        self._renewed = False
        self._refused_403s = 0
        self._authenticated = asyncio.Event()

    # Public API

    @property
    def url(self) -> str:
        """Where this client connects now."""
        return self.endpoints.sse if self.using == "sse" else self.endpoints.websocket

    @property
    def api_url(self) -> str:
        return self.endpoints.api

    @property
    def cursor(self) -> int | None:
        """The seq this client would resume from."""
        return self.session.cursor

    @property
    def store(self) -> OrderStore:
        """The latest version of every order seen."""
        return self.session.store

    @property
    def stats(self) -> Stats:
        return self.session.stats

    @property
    def unread(self) -> int:
        """Items queued for the iterator and not read yet. The store already
        holds what they carry: it is updated as each frame arrives."""
        return self._items.qsize()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            # wait() neither raises the runner's CancelledError nor swallows our own.
            await asyncio.wait([runner])
        self.state = State.CLOSED
        with contextlib.suppress(asyncio.QueueFull):
            self._items.put_nowait(None)

    async def drop(self) -> bool:
        """Abort the current connection without a close frame, as a network
        drop would; the client reconnects and resumes. False when there was
        no connection to drop (the client is between connections)."""
        ws, stream = self._ws, self._stream
        if ws is not None:
            ws.transport.abort()
        if stream is not None:
            stream.abort()
        return ws is not None or stream is not None

    async def __aenter__(self) -> OrdersClient:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Item]:
        self.start()
        while True:
            item = await self._items.get()
            if item is None:
                return
            if isinstance(item, ClientStopped):
                raise item
            yield item

    # Hooks

    async def fetch_snapshot(self) -> list[dict[str, Any]]:
        """The orders this token may see, from `GET snapshot_path` (after `resync_required`)."""
        return await asyncio.to_thread(self._get_orders)

    # The loop

    async def _run(self) -> None:
        try:
            await self._connect_forever()
        except ClientStopped as stopped:
            await self._emit(StateChange(State.CLOSED, stopped.code, stopped.reason))
            await self._items.put(stopped)
        finally:
            self.state = State.CLOSED

    async def _connect_forever(self) -> None:
        await self._emit(StateChange(State.CONNECTING))
        while True:
            if self.using == "sse":
                closed = await self._connect_stream()
            else:
                closed = await self._connect_once()
            if closed.fall_back:
                logger.info("falling back to Server-Sent Events: %s", closed.reason)
                self.using = "sse"
                continue
            if closed.again:
                continue
            action = action_for(closed.code)
            if action is Action.STOP:
                raise ClientStopped(closed.code, closed.reason)
            delay = (
                self.backoff.back_off() if action is Action.BACK_OFF else self.backoff.next_delay()
            )
            await self._emit(
                StateChange(State.RECONNECTING, closed.code, closed.reason, round(delay, 3))
            )
            await asyncio.sleep(delay)

    async def _connect_once(self) -> _Closed:
        query = urllib.parse.urlencode(self.session.query())
        try:
            await self._fresh_token()
        except Exception as exc:
            return _Closed(CloseCode.TRY_AGAIN_LATER, f"token provider failed: {exc}")
        try:
            ws = await connect(
                f"{self.url}?{query}" if query else self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=self.open_timeout,
                close_timeout=1,
                max_queue=64,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if self.transport == "auto":
                return _Closed(ABNORMAL, f"upgrade refused with HTTP {status}", fall_back=True)
            self._refused_403s = self._refused_403s + 1 if status == 403 else 0
            return _Closed(*handshake_refusal(status, self._refused_403s - 1))
        except InvalidHandshake as exc:
            reason = f"upgrade failed: {type(exc).__name__}"
            return _Closed(ABNORMAL, reason, fall_back=self.transport == "auto")
        except (OSError, TimeoutError) as exc:
            return _Closed(ABNORMAL, f"connect failed: {type(exc).__name__}")
        self._ws = ws
        self._refused_403s = 0
        self.session.opened()
        renewer = asyncio.create_task(self._renew(ws))
        try:
            return await self._read(ws)
        finally:
            renewer.cancel()
            self._ws = None
            ws.transport.abort()

    async def _connect_stream(self) -> _Closed:
        query = urllib.parse.urlencode(self.session.query(with_since=False), safe=",")
        url = f"{self.endpoints.sse}?{query}" if query else self.endpoints.sse
        try:
            await self._fresh_token()
        except Exception as exc:
            return _Closed(CloseCode.TRY_AGAIN_LATER, f"token provider failed: {exc}")
        headers = {"Authorization": f"Bearer {self.token}", **self.session.stream_headers()}
        stream = EventStream(url, headers, self.open_timeout)
        try:
            await stream.open()
        except StreamRefused as exc:
            stream.abort()
            self._refused_403s = self._refused_403s + 1 if exc.status == 403 else 0
            refusal = stream_refusal(exc.status, exc.code, exc.detail, self._refused_403s - 1)
            return _Closed(*refusal)
        except (OSError, TimeoutError, StreamEnded, h11.ProtocolError) as exc:
            stream.abort()
            return _Closed(ABNORMAL, f"connect failed: {type(exc).__name__}")
        self._stream = stream
        self._refused_403s = 0
        self.session.opened()
        renewer = asyncio.create_task(self._renew(None))
        try:
            return await self._read_stream(stream)
        finally:
            renewer.cancel()
            self._stream = None
            stream.abort()

    async def _read_stream(self, stream: EventStream) -> _Closed:
        session = self.session
        events = stream.events()
        for _ in range(1_000_000_000):
            interval = session.heartbeat_interval
            silence = SILENCE_FACTOR * interval if interval else self.open_timeout
            try:
                async with asyncio.timeout(silence):
                    event = await anext(events)
            except TimeoutError:
                return _Closed(ABNORMAL, f"server silent for {silence:g} s")
            except (StreamEnded, OSError, h11.ProtocolError) as exc:
                if self._renewed:
                    self._renewed = False
                    return _Closed(CloseCode.NORMAL, "token renewed", again=True)
                return _Closed(ABNORMAL, str(exc) or describe(ABNORMAL))
            closed = await self._handle(event.data, None)
            if closed is not None:
                return closed
        return _Closed(ABNORMAL, "stream too long")

    async def _read(self, ws: ClientConnection) -> _Closed:
        session = self.session

        async def reply(frame: dict[str, Any]) -> None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(frame))

        for _ in range(1_000_000_000):
            interval = session.heartbeat_interval
            silence = SILENCE_FACTOR * interval if interval else self.open_timeout
            try:
                async with asyncio.timeout(silence):
                    text = await ws.recv()
            except TimeoutError:
                return _Closed(ABNORMAL, f"server silent for {silence:g} s")
            except ConnectionClosed as closed:
                if closed.rcvd is not None:
                    return _Closed(
                        closed.rcvd.code, closed.rcvd.reason or describe(closed.rcvd.code)
                    )
                return _Closed(ABNORMAL, describe(ABNORMAL))
            if not isinstance(text, str):
                return _Closed(ABNORMAL, "server sent a binary frame")
            ended = await self._handle(text, reply)
            if ended is not None:
                return ended
        return _Closed(ABNORMAL, "connection too long")

    async def _handle(self, text: str, reply: Any) -> _Closed | None:
        """One frame from the server, whatever carried it; a _Closed ends the connection."""
        session = self.session
        try:
            step = session.receive(text, time.time())
        except ProtocolError as exc:
            logger.warning("dropping connection: %s", exc)
            return _Closed(ABNORMAL, str(exc))
        if reply is not None:
            for frame in step.send:
                await reply(frame)
        if step.welcome is not None:
            self.backoff.reset()
            worker = step.welcome.get("worker")
            await self._emit(
                StateChange(
                    State.CONNECTED,
                    cursor=session.cursor,
                    worker=worker if isinstance(worker, int) else None,
                    transport=self.using,
                )
            )
        if step.authenticated:
            self._authenticated.set()
        if step.error is not None:
            logger.warning("server error frame: %s", step.error)
        if step.resync:
            await self._resync()
        for update in step.updates:
            await self._items.put(update)
        if step.close is not None:
            code, reason = step.close
            return _Closed(code, reason or describe(code))
        return None

    async def _fresh_token(self) -> None:
        """A provider's token for the next connect."""
        if self.provider is not None:
            self.token = await self._provided()

    async def _provided(self) -> str:
        assert self.provider is not None
        token = self.provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token:
            raise ValueError("the token provider returned no token")
        return token

    async def _renew(self, ws: ClientConnection | None) -> None:
        """Before the token expires, get a fresh one (`refresh_token`) and hand
        it to the server: in an `auth` frame on a WebSocket, by reconnecting
        (with `Last-Event-ID`) on a stream, which has no client frames. A
        failed fetch is retried."""
        if self.provider is None and self.refresh_path is None:
            return
        for _ in range(1_000_000):
            due = self.session.renew_at(time.time())
            if due is None:
                await asyncio.sleep(1)
                continue
            await asyncio.sleep(max(0.0, due - time.time()))
            try:
                self.token = await self.refresh_token()
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    logger.warning("token refresh refused (%d): the token will expire", exc.code)
                    return
                logger.warning("token refresh failed (%d); retrying", exc.code)
                await asyncio.sleep(RENEW_RETRY)
                continue
            except (OSError, ValueError) as exc:
                logger.warning("token refresh failed: %s; retrying", exc)
                await asyncio.sleep(RENEW_RETRY)
                continue
            if ws is None:
                self._renewed = True
                if self._stream is not None:
                    self._stream.abort()
                return
            self._authenticated.clear()
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
            # The `authenticated` answer moves expires_at: renew_at means nothing until it has.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._authenticated.wait(), AUTHENTICATED_WAIT)

    async def refresh_token(self) -> str:
        """A fresh token for this client's user: the provider's, or
        `POST refresh_path` with the current one (override to renew another way)."""
        if self.provider is not None:
            return await self._provided()
        return await asyncio.to_thread(self._post_refresh)

    def _post_refresh(self) -> str:
        request = urllib.request.Request(f"{self.api_url}{self.refresh_path}", method="POST")
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=self.open_timeout) as response:
            token = json.loads(response.read()).get("token")
        if not isinstance(token, str):
            raise ValueError(f"POST {self.refresh_path} answered no token")
        return token

    async def _resync(self) -> None:
        cursor = self.session.cursor
        if self.snapshot_path is None:
            await self._items.put(Resynced(cursor))
            return
        try:
            snapshot = await self.fetch_snapshot()
        except (OSError, ValueError) as exc:
            logger.warning("snapshot after resync_required failed: %s", exc)
            await self._items.put(Resynced(cursor, error=str(exc)))
            return
        self.session.store.merge(snapshot)
        await self._items.put(Resynced(cursor, orders=len(snapshot)))

    async def _emit(self, change: StateChange) -> None:
        self.state = change.state
        await self._items.put(change)

    def _get_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        after_id = 0
        for _ in range(SNAPSHOT_PAGES):
            request = urllib.request.Request(
                f"{self.api_url}{self.snapshot_path}?limit={SNAPSHOT_PAGE}&after_id={after_id}"
            )
            request.add_header("Authorization", f"Bearer {self.token}")
            with urllib.request.urlopen(request, timeout=self.open_timeout) as response:
                page = json.loads(response.read())
            if not isinstance(page, list):
                raise ValueError(f"GET {self.snapshot_path} did not return a list")
            orders.extend(page)
            if len(page) < SNAPSHOT_PAGE:
                break
            after_id = int(page[-1]["id"])
        return orders
