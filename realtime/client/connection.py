"""`OrdersClient`: an asyncio client for `/ws/orders/` on `websockets` that
reconnects, resumes and dedupes, so its user sees every update once.

    async with OrdersClient(url, token) as client:
        async for item in client:
            ...  # an Update, or a StateChange of the connection

Frames go through the sans-I/O `Session`; this module only connects, reads
with a silence watchdog, sends what the session asks, sleeps between tries
and fetches a snapshot after `resync_required`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from realtime.client.backoff import Backoff
from realtime.client.policy import ABNORMAL, Action, action_for, handshake_refusal
from realtime.client.session import ProtocolError, Session, Stats, Update
from realtime.client.store import OrderStore
from realtime.codes import describe

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


class ClientStopped(Exception):
    """The server closed with a code that retrying cannot fix (docs/protocol.md)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} ({reason})")
        self.code = code
        self.reason = reason


Item = Update | StateChange


@dataclass(frozen=True)
class _Closed:
    code: int
    reason: str


class OrdersClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        since: int | None = None,
        scopes: tuple[str, ...] = ("mine",),
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        open_timeout: float = 10.0,
        api_url: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.session = Session(since, scopes)
        self.backoff = Backoff(backoff_base, backoff_cap, rng or random.Random())
        self.open_timeout = open_timeout
        self.api_url = api_url or _api_base(url)
        self.state = State.CLOSED
        self._items: asyncio.Queue[Item | ClientStopped | None] = asyncio.Queue(BUFFER)
        self._runner: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._refused_403s = 0
        self._authenticated = asyncio.Event()

    # Public API

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

    async def drop(self) -> None:
        """Abort the current connection without a close frame, as a network
        drop would; the client reconnects and resumes."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

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
        """The orders this token may see, from `GET /api/orders/` (after `resync_required`)."""
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
            closed = await self._connect_once()
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
            ws = await connect(
                f"{self.url}?{query}" if query else self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=self.open_timeout,
                close_timeout=1,
                max_queue=64,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            self._refused_403s = self._refused_403s + 1 if status == 403 else 0
            return _Closed(*handshake_refusal(status, self._refused_403s - 1))
        except (OSError, InvalidHandshake, TimeoutError) as exc:
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

    async def _read(self, ws: ClientConnection) -> _Closed:
        session = self.session
        while True:
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
            try:
                step = session.receive(text, time.time())
            except ProtocolError as exc:
                logger.warning("dropping connection: %s", exc)
                return _Closed(ABNORMAL, str(exc))
            for frame in step.send:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(json.dumps(frame))
            if step.welcome is not None:
                self.backoff.reset()
                worker = step.welcome.get("worker")
                await self._emit(
                    StateChange(
                        State.CONNECTED,
                        cursor=session.cursor,
                        worker=worker if isinstance(worker, int) else None,
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

    async def _renew(self, ws: ClientConnection) -> None:
        """Before the token expires, fetch a fresh one from
        `POST /api/token/refresh/` and hand it to the server in an `auth`
        frame; reconnects use it too. A failed fetch is retried."""
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
            self._authenticated.clear()
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "auth", "token": self.token}))
            # The `authenticated` answer moves expires_at: renew_at means nothing until it has.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._authenticated.wait(), AUTHENTICATED_WAIT)

    async def refresh_token(self) -> str:
        """A fresh token for this client's user (override to renew another way)."""
        return await asyncio.to_thread(self._post_refresh)

    def _post_refresh(self) -> str:
        request = urllib.request.Request(f"{self.api_url}/api/token/refresh/", method="POST")
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=self.open_timeout) as response:
            token = json.loads(response.read()).get("token")
        if not isinstance(token, str):
            raise ValueError("POST /api/token/refresh/ answered no token")
        return token

    async def _resync(self) -> None:
        try:
            snapshot = await self.fetch_snapshot()
        except (OSError, ValueError) as exc:
            logger.warning("snapshot after resync_required failed: %s", exc)
            return
        self.session.store.merge(snapshot)

    async def _emit(self, change: StateChange) -> None:
        self.state = change.state
        await self._items.put(change)

    def _get_orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = []
        after_id = 0
        for _ in range(SNAPSHOT_PAGES):
            request = urllib.request.Request(
                f"{self.api_url}/api/orders/?limit={SNAPSHOT_PAGE}&after_id={after_id}"
            )
            request.add_header("Authorization", f"Bearer {self.token}")
            with urllib.request.urlopen(request, timeout=self.open_timeout) as response:
                page = json.loads(response.read())
            if not isinstance(page, list):
                raise ValueError("GET /api/orders/ did not return a list")
            orders.extend(page)
            if len(page) < SNAPSHOT_PAGE:
                break
            after_id = int(page[-1]["id"])
        return orders


def _api_base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urllib.parse.urlunsplit((scheme, parts.netloc, "", "", ""))
