"""One connection's protocol state, free of I/O and of its transport
(docs/architecture.md), in the manner of python-websockets' `protocol.py`:
a WebSocket at `/ws/orders/` and a Server-Sent Events stream at
`/sse/orders/` are both this.

Inputs: a client frame's text (WebSocket), word that the transport took or
delivered what was written (Server-Sent Events, which has no client frames),
an event from the hub, a clock tick, and the answer to a request the
connection made (may it watch a scope, a read of history), or that
request's failure. Outputs, for the I/O layer:

- `next_output()`: frames to send in order (encoded text, an `Event` to send
  as `order.update`, or a final `Close`);
- `take_commands()`: hub membership to change at once (`Join`, `Leave`),
  requests to carry out (`CheckScope`, `ReadHistory`) and lines to log
  (`Note`).

Delivery rules (docs/guarantees.md): a connection sends events in seq order,
never the same seq twice and never an older version of an order after a newer
one (G3). A replay, from `?since=`, a `resume` frame or a `subscribe` with
`since`, reads the log past `since` for every scope the connection watches,
holding live events meanwhile, and merges them by seq once the log is read to
its end (G1). A replay that cannot finish ends in `resync_required` or, when
the database is away, a 1013 close: never a cursor that moved past what was
sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from realtime.buckets import TokenBucket
from realtime.codes import CloseCode, ErrorCode
from realtime.core import protocol
from realtime.core.flow import FlowControl
from realtime.core.heartbeat import HeartbeatAction, HeartbeatState
from realtime.core.limits import Limit, Strikes
from realtime.core.protocol import FrameError, Ref
from realtime.delivery.events import Event, History
from realtime.delivery.scopes import ALL, MINE, Scope, Visibility

if TYPE_CHECKING:
    from realtime.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class Config:
    heartbeat_interval: float
    heartbeat_timeout: float
    max_lag: int
    max_message_bytes: int
    rate_limit: float
    replay_page: int = 500
    # Which worker of `realtime serve --workers N` serves the connection.
    worker: int = 1
    # Pages one replay may read before it gives up with resync_required.
    replay_pages: int = 2000
    # Frames a replay queues before it waits for the I/O layer to send them.
    replay_backlog: int = 32
    violation_limit: int = 10
    rate_strike_limit: int = 10
    # Orders whose newest sent version a connection remembers; past it the
    # memory starts afresh and older resumes get resync_required.
    sent_versions_limit: int = 10_000

    @property
    def max_backlog(self) -> int:
        return max(64, self.max_lag)


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Join:
    scope: Scope


@dataclass(frozen=True, slots=True)
class Leave:
    scope: Scope


@dataclass(frozen=True, slots=True)
class CheckScope:
    """May this principal watch `scope`? Answered by `scope_checked`."""

    scope: Scope
    ref: Ref = None
    since: int | None = None
    from_url: bool = False
    # Asked again for a scope already joined (the user was demoted).
    recheck: bool = False


@dataclass(frozen=True, slots=True)
class ReadHistory:
    """Events past `after` that `visibility` admits, at most `limit` of them
    (the first read of a replay may answer with more, from memory)."""

    after: int
    limit: int
    visibility: Visibility
    first: bool


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Is `token` valid for an active user? Answered by `authenticated`."""

    token: str
    ref: Ref = None


@dataclass(frozen=True, slots=True)
class Note:
    """A lifecycle line for the log (and its metric)."""

    event: str
    fields: tuple[tuple[str, object], ...] = ()


Output = str | Event | Close
Command = Join | Leave | CheckScope | ReadHistory | Authenticate | Note
Request = CheckScope | ReadHistory | Authenticate

UNAVAILABLE = "database unavailable, try again later"


@dataclass(frozen=True, slots=True)
class Admission:
    """What a connect needs to know beyond its own frames."""

    origin_allowed: bool
    draining: bool = False
    over_limit: Limit | None = None


def refusal(
    admission: Admission, principal: Principal | None, auth_error: str, auth_unavailable: bool
) -> Close | None:
    """Why a connect is refused, as the close that follows its accept, or None.
    An outage is 1013 (retry), never 4401 or 4403 (do not retry)."""
    if not admission.origin_allowed:
        return Close(CloseCode.FORBIDDEN, "origin not allowed")
    if auth_unavailable:
        return Close(CloseCode.TRY_AGAIN_LATER, UNAVAILABLE)
    if principal is None:
        return Close(CloseCode.UNAUTHORIZED, auth_error or "unauthorized")
    if admission.draining:
        return Close(CloseCode.TRY_AGAIN_LATER, "server shutting down")
    if admission.over_limit is not None:
        return Close(CloseCode.TRY_AGAIN_LATER, admission.over_limit.reason)
    return None


def awaits_auth_frame(refused: Close | None, presented_token: str) -> bool:
    """A connect refused only for want of credentials may send its token as
    its first frame instead, so that no URL (and no proxy's access log) holds it."""
    return refused is not None and refused.code == CloseCode.UNAUTHORIZED and not presented_token


def first_frame_token(text: str | None, max_bytes: int) -> str | Close:
    """The token of a connection's first frame, which must be `auth`; else its close."""
    if text is None:
        return Close(CloseCode.UNAUTHORIZED, "the first frame must be an auth frame")
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes):
        return Close(CloseCode.TOO_LARGE, f"frame larger than {max_bytes} bytes")
    frame = protocol.parse_client_frame(text)
    if isinstance(frame, protocol.Auth):
        return frame.token
    if isinstance(frame, FrameError) and frame.detail.startswith("token"):
        return Close(CloseCode.UNAUTHORIZED, frame.detail)
    return Close(CloseCode.UNAUTHORIZED, "the first frame must be an auth frame")


def expiry(principal: Principal) -> float:
    """When the principal's credential ends, as epoch seconds (never: infinity)."""
    return math.inf if principal.expires_at is None else principal.expires_at


@dataclass(slots=True)
class Replay:
    since: int
    ref: Ref
    # The scope of a subscribe with `since`; None for a resume.
    scope: Scope | None
    after: int
    visibility: Visibility | None = None
    request: ReadHistory | None = None
    pending: list[Event] = field(default_factory=list)
    held: list[Event] = field(default_factory=list)
    replayed: int = 0
    pages: int = 0
    complete: bool = False
    # Every admitted event up to here has been read.
    covered: int = 0
    # The last seq the replay has queued: what a heartbeat may promise.
    progress: int = 0
    # When the replay stopped at max_lag to wait for an ack.
    paused_since: float | None = None
    source: str = "-"


class Connection:
    # Thousands are idle at once: no per-instance dict.
    __slots__ = (
        "bucket",
        "closing",
        "commands",
        "config",
        "connection_id",
        "cursor",
        "expires_at",
        "flow",
        "heartbeat",
        "history_floor",
        "messages_in",
        "now",
        "outbox",
        "rate_strikes",
        "replay",
        "scopes",
        "sent_versions",
        "url_checks",
        "user_id",
        "violations",
    )

    def __init__(self, config: Config, connection_id: str, now: float) -> None:
        self.config = config
        self.connection_id = connection_id
        self.user_id = 0
        self.expires_at = 0.0
        self.now = now
        self.closing = False
        self.cursor = 0
        self.history_floor = 0
        self.messages_in = 0
        self.scopes: set[Scope] = set()
        self.sent_versions: dict[int, int] = {}
        self.outbox: list[Output] = []
        self.commands: list[Command] = []
        self.replay: Replay | None = None
        self.url_checks = 0
        self.heartbeat = HeartbeatState.start(
            now, config.heartbeat_interval, config.heartbeat_timeout
        )
        self.flow = FlowControl(max_lag=config.max_lag, max_backlog=config.max_backlog)
        self.bucket = TokenBucket.full(config.rate_limit, now)
        self.violations = Strikes(config.violation_limit)
        self.rate_strikes = Strikes(config.rate_strike_limit)

    # Outputs

    def next_output(self) -> Output | None:
        outbox = self.outbox
        if not outbox:
            return None
        item = outbox.pop(0)
        replay = self.replay
        if replay is not None and replay.pending and len(outbox) < self.config.replay_backlog:
            self._pump()
        return item

    def take_commands(self) -> list[Command]:
        commands, self.commands = self.commands, []
        return commands

    # Inputs: the connection's life

    def accept(self, principal: Principal, head: int, query: dict[str, str], now: float) -> None:
        """The handshake was accepted for `principal`; `head` is the newest seq
        the hub has delivered. `query` may carry `scopes` and `since`."""
        self.now = now
        self.user_id = principal.user_id
        self.expires_at = expiry(principal)
        self.cursor = head
        self.flow.ack(head)
        config = self.config
        self._push(
            protocol.welcome(
                connection_id=self.connection_id,
                user=principal.username,
                heartbeat_interval=config.heartbeat_interval,
                heartbeat_timeout=config.heartbeat_timeout,
                cursor=head,
                max_lag=config.max_lag,
                expires_at=principal.expires_at,
                worker=config.worker,
            )
        )
        self._join(MINE)
        scopes = protocol.parse_scopes(query.get("scopes"))
        since = protocol.parse_since(query.get("since"))
        for parsed in (scopes, since):
            if isinstance(parsed, FrameError):
                self._refuse(parsed)
        extra = [s for s in scopes if s not in self.scopes] if isinstance(scopes, list) else []
        if extra and not isinstance(since, int):
            # The scopes join once checked: replay from the welcome's cursor
            # so that nothing published meanwhile is missed.
            since = head
        if isinstance(since, int):
            self._begin_replay(since, None, None)
        for scope in extra:
            self.url_checks += 1
            self.commands.append(CheckScope(scope, from_url=True))
        self._read_when_ready()

    def close(self, code: int, reason: str) -> None:
        """Queue the last frame: nothing is sent or asked for after it."""
        if self.closing:
            return
        self.closing = True
        self.replay = None
        self.outbox.append(Close(code, reason))

    # Inputs: frames from the client

    def receive(self, text: str, now: float) -> None:
        if self.closing:
            return
        self.now = now
        self.messages_in += 1
        self.heartbeat.received(now)
        limit = self.config.max_message_bytes
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            self.close(CloseCode.TOO_LARGE, f"frame larger than {limit} bytes")
            return
        if not self.bucket.allow(now):
            self._push(protocol.error(ErrorCode.RATE_LIMITED, "too many frames"))
            if self.rate_strikes.strike():
                self.close(CloseCode.RATE_LIMITED, "rate limit exceeded")
            return
        frame = protocol.parse_client_frame(text)
        if isinstance(frame, FrameError):
            self._refuse(frame)
        elif isinstance(frame, protocol.Heartbeat):
            self._push(protocol.heartbeat_ack(frame.ts, frame.ref))
        elif isinstance(frame, protocol.HeartbeatAck):
            self._acknowledge(frame.cursor)
        elif isinstance(frame, protocol.Auth):
            self.commands.append(Authenticate(frame.token, frame.ref))
        elif isinstance(frame, protocol.Subscribe):
            if frame.since is not None and self.replay is not None:
                self._refuse(self._busy(frame.ref))
            else:
                self.commands.append(CheckScope(frame.scope, frame.ref, frame.since))
        elif isinstance(frame, protocol.Unsubscribe):
            if frame.scope in self.scopes:
                self.scopes.discard(frame.scope)
                self.commands.append(Leave(frame.scope))
            self._push(protocol.unsubscribed(frame.scope, frame.ref))
        elif self.replay is not None:
            self._refuse(self._busy(frame.ref))
        else:
            self._begin_replay(frame.since, frame.ref, None)
            self._read_when_ready()

    def alive(self, now: float) -> None:
        """The peer took what was written (a transport without client frames
        says so from its send path): it counts as life, as a frame would."""
        self.heartbeat.received(now)

    def acknowledged(self, cursor: int) -> None:
        """The transport took every event up to `cursor` off this connection's
        hands: the flow-control ack of a transport without client frames."""
        self._acknowledge(cursor)

    def receive_binary(self, now: float) -> None:
        if self.closing:
            return
        self.messages_in += 1
        self.heartbeat.received(now)
        self._refuse(FrameError(ErrorCode.BAD_MESSAGE, "binary frames are not supported"))

    # Inputs: the hub

    def event(self, event: Event) -> None:
        """A live event for one of this connection's scopes, in seq order."""
        if self.closing:
            return
        replay = self.replay
        if replay is not None:
            replay.held.append(event)
            if len(replay.held) > self.config.max_backlog:
                self._slow_consumer(f"{len(replay.held)} events held during a replay")
            return
        if event.seq > self.cursor:
            self._send(event)

    def tick(self, now: float, wall: float, head: int) -> float | None:
        """A heartbeat, a 4408, a 4409 or a 4401 when due; returns when the
        next one may be due. `wall` is the epoch time, `head` the hub's cursor."""
        if self.closing:
            return None
        self.now = now
        token_left = self.expires_at - wall
        if token_left <= 0:
            self.close(CloseCode.UNAUTHORIZED, "token expired")
            return None
        replay = self.replay
        paused = replay.paused_since if replay is not None else None
        if paused is not None and now - paused >= self.heartbeat.timeout:
            self._slow_consumer("no ack during a replay")
            return None
        action = self.heartbeat.poll(now)
        if action is HeartbeatAction.TIMEOUT:
            silence = round(self.heartbeat.silence(now), 3)
            self.commands.append(Note("heartbeat timeout", (("silence", silence),)))
            self.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            return None
        if action is HeartbeatAction.SEND:
            self.heartbeat.sent(now)
            # Live, every event up to the hub's head has been handed over.
            cursor = head if replay is None else replay.progress
            self._push(protocol.heartbeat(wall, cursor))
        due = min(self.heartbeat.next_due(), now + token_left)
        if paused is not None:
            due = min(due, paused + self.heartbeat.timeout)
        return due

    # Inputs: answers to requests

    def scope_checked(self, request: CheckScope, refused: ErrorCode | None) -> None:
        """`refused` is FORBIDDEN or NOT_FOUND when the scope may not be watched."""
        if self.closing:
            return
        scope, ref = request.scope, request.ref
        if request.recheck:
            if refused is not None and scope in self.scopes:
                self._revoke(scope, f"no longer allowed: unsubscribed from {scope}")
            return
        if refused is not None:
            detail = (
                f"no such order: {scope}"
                if refused is ErrorCode.NOT_FOUND
                else f"may not subscribe to {scope}"
            )
            error = FrameError(refused, detail, ref)
            if request.from_url:
                self._push(protocol.error(error.code, error.detail))
            else:
                self._refuse(error)
        elif request.since is not None:
            if self.replay is not None:
                self._refuse(self._busy(ref))
            else:
                self._join(scope)
                self._begin_replay(request.since, ref, scope)
                self._read_when_ready()
        else:
            self._join(scope)
            self.commands.append(Note("subscribe", (("scope", str(scope)),)))
            self._push(protocol.subscribed(scope, ref))
        if request.from_url:
            self.url_checks -= 1
            self._read_when_ready()

    def history(self, request: ReadHistory, answer: History, now: float) -> None:
        replay = self.replay
        if self.closing or replay is None or request is not replay.request:
            return
        self.now = now
        replay.request = None
        if request.first and replay.since > answer.head:
            self._resync(replay, "since_ahead", answer.head)
            return
        floor = replay.since if request.first else request.after
        if floor < answer.horizon or (request.first and floor < self.history_floor):
            self._resync(replay, "history_gone", answer.head)
            return
        replay.pages += 1
        replay.source = answer.source
        visibility = replay.visibility
        if visibility is None or visibility is request.visibility:
            replay.pending.extend(answer.events)
        else:
            # Read before the user lost a scope.
            replay.pending.extend(
                e for e in answer.events if visibility.admits(e.subject, e.owner_id)
            )
        if answer.events:
            replay.after = answer.events[-1].seq
        replay.covered = max(replay.covered, answer.head, replay.after)
        replay.complete = answer.complete
        self._pump()

    def authenticated(self, request: Authenticate, principal: Principal | None, why: str) -> None:
        """The answer to an `auth` frame: a principal for the same user
        extends the connection's life; anything else closes it with 4401."""
        if self.closing:
            return
        if principal is None or principal.user_id != self.user_id:
            self.close(
                CloseCode.UNAUTHORIZED, why if principal is None else "token for another user"
            )
            return
        self.expires_at = expiry(principal)
        expires = "-" if principal.expires_at is None else round(principal.expires_at)
        self.commands.append(Note("auth", (("expires_at", expires),)))
        self._push(protocol.authenticated(principal.expires_at, request.ref))

    def standing(
        self, active: bool, staff: bool, *, signed_out: bool = False, demoted: bool = False
    ) -> None:
        """The user's standing, re-read from the database: a deactivated or
        signed-out user is closed with 4401; one who is no longer staff loses
        `all`, and every `order:<id>` scope is checked again."""
        if self.closing:
            return
        if not active:
            self.close(CloseCode.UNAUTHORIZED, "user deactivated")
            return
        if signed_out:
            self.close(CloseCode.UNAUTHORIZED, "signed out: sign in again")
            return
        if staff:
            return
        if ALL in self.scopes:
            self._revoke(ALL, "no longer staff: unsubscribed from all")
        if demoted:
            for scope in sorted((s for s in self.scopes if s.order_id is not None), key=str):
                self.commands.append(CheckScope(scope, recheck=True))

    def _revoke(self, scope: Scope, why: str) -> None:
        """Leave a scope the user may no longer watch, and say so."""
        self.scopes.discard(scope)
        self.commands.append(Leave(scope))
        self.commands.append(Note("revoke", (("scope", str(scope)),)))
        self._push(protocol.error(ErrorCode.FORBIDDEN, why))
        replay = self.replay
        if replay is not None and replay.visibility is not None:
            visibility = Visibility.of(self.user_id, self.scopes)
            replay.visibility = visibility
            replay.pending = [e for e in replay.pending if visibility.admits(e.subject, e.owner_id)]
            replay.held = [e for e in replay.held if visibility.admits(e.subject, e.owner_id)]

    def request_failed(self, request: Request, why: str) -> None:
        """The database (or a hook) failed: nothing changes but what is said here."""
        if self.closing:
            return
        self.commands.append(
            Note("request failed", (("request", type(request).__name__), ("error", why)))
        )
        # A refused `auth` leaves the current token holding until it expires;
        # a refused `subscribe` leaves the scopes as they were.
        if isinstance(request, Authenticate) or (
            isinstance(request, CheckScope) and not request.from_url and not request.recheck
        ):
            self._push(protocol.error(ErrorCode.UNAVAILABLE, UNAVAILABLE, request.ref))
            return
        # A replay, the scopes a URL asked for, or a scope checked again after
        # a demotion: the client resumes from what it holds once it
        # reconnects, and its scopes are checked then.
        self.close(CloseCode.TRY_AGAIN_LATER, UNAVAILABLE)

    # Internals

    def _push(self, frame: dict[str, object]) -> None:
        if not self.closing:
            self.outbox.append(protocol.encode(frame))

    def _refuse(self, error: FrameError) -> None:
        self._push(protocol.error(error.code, error.detail, error.ref))
        if self.violations.strike():
            self.close(CloseCode.PROTOCOL_VIOLATION, "repeated protocol violations")

    def _busy(self, ref: Ref) -> FrameError:
        return FrameError(ErrorCode.BAD_MESSAGE, "a replay is already running", ref)

    def _join(self, scope: Scope) -> None:
        if scope not in self.scopes:
            self.scopes.add(scope)
            self.commands.append(Join(scope))

    def _acknowledge(self, cursor: int | None) -> None:
        if cursor is None:
            return
        self.flow.ack(min(cursor, self.cursor))
        replay = self.replay
        if replay is not None and replay.paused_since is not None:
            replay.paused_since = None
            self._pump()

    def _send(self, event: Event) -> bool:
        """Queue `event` unless this connection sent it or a newer version of its order."""
        sent = self.sent_versions
        if sent.get(event.subject, 0) >= event.version:
            return False
        if len(sent) >= self.config.sent_versions_limit:
            sent.clear()
            self.history_floor = self.cursor
        sent[event.subject] = event.version
        if event.seq > self.cursor:
            self.cursor = event.seq
        self.flow.sent(event.seq)
        self.outbox.append(event)
        overloaded = self.flow.overloaded(len(self.outbox))
        if overloaded:
            self._slow_consumer(overloaded)
        return True

    def _slow_consumer(self, why: str) -> None:
        if self.closing:
            return
        self.commands.append(Note("slow consumer", (("why", why), ("lag", self.flow.lag))))
        self.outbox.clear()
        self.close(CloseCode.SLOW_CONSUMER, "slow consumer")

    # Replays

    def _begin_replay(self, since: int, ref: Ref, scope: Scope | None) -> None:
        self.replay = Replay(since, ref, scope, after=since, progress=since)
        self.flow.rewind(since)

    def _read_when_ready(self) -> None:
        """Start reading once the URL's scopes are settled, so the replay covers them."""
        replay = self.replay
        if replay is None or self.url_checks or replay.pages or replay.request is not None:
            return
        replay.visibility = Visibility.of(self.user_id, self.scopes)
        self._read(replay)

    def _read(self, replay: Replay) -> None:
        assert replay.visibility is not None
        replay.request = ReadHistory(
            replay.after, self.config.replay_page, replay.visibility, first=not replay.pages
        )
        self.commands.append(replay.request)

    def _pump(self) -> None:
        """Queue read events at the client's pace: up to replay_backlog frames
        waiting, and no further than max_lag past the client's ack."""
        replay = self.replay
        if replay is None:
            return
        pending = replay.pending
        sent = 0
        while sent < len(pending):
            if len(self.outbox) >= self.config.replay_backlog:
                break
            if self.flow.lag >= self.flow.max_lag:
                if replay.paused_since is None:
                    replay.paused_since = self.now
                break
            event = pending[sent]
            sent += 1
            if self._send(event):
                replay.replayed += 1
            if self.replay is not replay:
                return
            replay.progress = event.seq
        del pending[:sent]
        if pending or replay.request is not None:
            return
        if not replay.complete:
            if replay.pages >= self.config.replay_pages:
                self._resync(replay, "replay_too_long", replay.covered)
            else:
                self._read(replay)
            return
        fields = (("since", replay.since), ("replayed", replay.replayed), ("source", replay.source))
        scope = () if replay.scope is None else (("scope", str(replay.scope)),)
        self.commands.append(Note("resume", fields + scope))
        self._finish(replay)

    def _finish(self, replay: Replay) -> None:
        """Go live: reply, then send the held events the replay did not cover."""
        self.replay = None
        self.cursor = max(self.cursor, replay.covered)
        summary = (replay.since, replay.replayed, self.cursor)
        if replay.scope is None:
            self._push(protocol.resumed(*summary, replay.ref))
        else:
            self._push(protocol.subscribed(replay.scope, replay.ref, summary))
        visibility = replay.visibility
        for event in replay.held:
            if self.closing:
                return
            if event.seq > self.cursor or (
                visibility is not None and not visibility.admits(event.subject, event.owner_id)
            ):
                self._send(event)

    def _resync(self, replay: Replay, reason: str, head: int) -> None:
        """The log cannot be replayed from `since`: the client refetches its
        orders and continues from the cursor this sends."""
        self.commands.append(Note("resync", (("since", replay.since), ("reason", reason))))
        self.replay = None
        self.cursor = max(self.cursor, head)
        self._push(protocol.resync_required(reason, self.cursor, replay.ref))
        if replay.scope is not None:
            self._push(protocol.subscribed(replay.scope, replay.ref))
        for event in replay.held:
            if event.seq > self.cursor:
                self._send(event)
