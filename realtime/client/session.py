"""One client's protocol state across reconnects, free of I/O and of its
transport (docs/protocol.md, docs/guarantees.md).

The session decides what to send and what to hand to the application for
each server frame (a WebSocket message, or a Server-Sent Event's data), and
keeps the resume cursor. Every connect names all the client's scopes and its
cursor (`?scopes=all&since=N`, or `Last-Event-ID` on a stream), so the
server replays every scope from the cursor in seq order before going live,
and the cursor is simply the last seq received. Over Server-Sent Events the
session's replies (acks) have nowhere to go and are dropped: the stream's
send path stands in for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from realtime.client.store import Applied, OrderStore
from realtime.delivery.scopes import Scope

DEFAULT_MAX_LAG = 1000


@dataclass(frozen=True)
class Update:
    """A newer version of an order (or, for a host's own event `type`, the
    event's `payload` with its `id` and `version`)."""

    seq: int
    order: dict[str, Any]
    meta: dict[str, Any]
    published_at: float
    received_at: float
    type: str = "order.update"


@dataclass
class Stats:
    connections: int = 0
    updates: int = 0
    duplicates: int = 0
    stale: int = 0
    replayed: int = 0
    resyncs: int = 0
    errors: int = 0
    # Breaches of G3 seen within one connection: a repeated seq, a seq going
    # backwards once in order, or an order's version not moving forward.
    violations: list[str] = field(default_factory=list)
    # Breaches of G1: an update skipping versions of an order this client held
    # (a strict resume never does; a snapshot after resync_required may).
    gaps: list[str] = field(default_factory=list)


@dataclass
class Step:
    """What one server frame asks of the I/O layer."""

    send: list[dict[str, Any]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    welcome: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    resync: bool = False
    # The server took a renewed token (`authenticated`).
    authenticated: bool = False
    # The server ends the stream (a Server-Sent Events `close`): code, reason.
    close: tuple[int, str] | None = None


def expiry(value: object) -> float | None:
    """A credential's expiry as the server says it: epoch seconds, or null for never."""
    return None if value is None else float(value)  # type: ignore[arg-type]


class ProtocolError(ValueError):
    """The server sent something that is not protocol v1."""


# Seconds before expiry by which a token is renewed.
RENEW_MARGIN = 10.0


class Session:
    def __init__(self, since: int | None = None, scopes: tuple[str, ...] = ("mine",)) -> None:
        parsed = [Scope.parse(scope) for scope in scopes]
        bad = [raw for raw, scope in zip(scopes, parsed, strict=True) if scope is None]
        if bad:
            raise ValueError(f"unknown scopes: {', '.join(map(str, bad))}")
        self.cursor = since
        self.extra_scopes = tuple(str(s) for s in parsed if s is not None and s.kind != "mine")
        self.store = OrderStore()
        self.stats = Stats()
        self.heartbeat_interval: float | None = None
        self.connection_id = "-"
        # When the server says the connection's token expires (epoch seconds).
        self.expires_at: float | None = None
        self._opened()

    def query(self, with_since: bool = True) -> dict[str, str]:
        """Query parameters of the next connect: the extra scopes and the cursor
        (a stream sends the cursor as `Last-Event-ID` instead)."""
        query: dict[str, str] = {}
        if self.extra_scopes:
            query["scopes"] = ",".join(self.extra_scopes)
        if self.cursor is not None and with_since:
            query["since"] = str(self.cursor)
        return query

    def stream_headers(self) -> dict[str, str]:
        """Headers of the next stream connect: where to resume."""
        return {"Last-Event-ID": str(self.cursor)} if self.cursor is not None else {}

    def _opened(self) -> None:
        start = self.cursor or 0
        self.last_seq = start
        self.high_water = start
        self.unacked = 0
        self.ack_every = DEFAULT_MAX_LAG // 4
        self.versions_here: dict[int, int] = {}

    def opened(self) -> None:
        """A new connection starts: per-connection checks begin afresh."""
        self.stats.connections += 1
        self._opened()

    def receive(self, text: str, now: float) -> Step:
        try:
            frame = json.loads(text)
        except ValueError as exc:
            raise ProtocolError("server frame is not JSON") from exc
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ProtocolError("server frame has no type")
        step = Step()
        kind = frame["type"]
        try:
            if kind == "order.update":
                self._update(frame, now, step)
            elif "subject" in frame and "seq" in frame and "payload" in frame:
                self._event(frame, now, step)
            elif kind == "heartbeat":
                step.send.append(self.ack(ts=frame.get("ts")))
            elif kind == "welcome":
                self._welcome(frame, step)
            elif kind == "authenticated":
                self.expires_at = expiry(frame["expires_at"])
                step.authenticated = True
            elif kind == "resumed":
                self.stats.replayed += int(frame["replayed"])
                self._move_to(int(frame["cursor"]))
            elif kind == "resync_required":
                self.stats.resyncs += 1
                self._move_to(int(frame["cursor"]))
                step.resync = True
            elif kind == "error":
                self.stats.errors += 1
                step.error = frame
            elif kind == "close":
                step.close = (int(frame["code"]), str(frame.get("reason", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed {kind} frame: {exc}") from exc
        return step

    def renew_at(self, now: float) -> float | None:
        """When to fetch a fresh token: a fifth of the time left before it
        expires, and at least RENEW_MARGIN seconds before; None if unknown."""
        if self.expires_at is None:
            return None
        left = self.expires_at - now
        return now + max(0.0, min(left * 0.8, left - RENEW_MARGIN))

    def ack(self, ts: object = None) -> dict[str, Any]:
        """A `heartbeat_ack` carrying the highest seq held, for the server's flow control."""
        self.unacked = 0
        frame: dict[str, Any] = {"type": "heartbeat_ack", "cursor": self.high_water}
        if isinstance(ts, int | float):
            frame["ts"] = ts
        return frame

    def _welcome(self, frame: dict[str, Any], step: Step) -> None:
        self.connection_id = str(frame["connection_id"])
        self.heartbeat_interval = float(frame["heartbeat_interval"])
        self.ack_every = max(1, int(frame.get("max_lag", DEFAULT_MAX_LAG)) // 4)
        if "expires_at" in frame:
            self.expires_at = expiry(frame["expires_at"])
        if self.cursor is None:
            self.cursor = int(frame["cursor"])
            self.last_seq = self.high_water = self.cursor
        step.welcome = frame

    def _move_to(self, cursor: int) -> None:
        """The server says every event up to `cursor` has been sent."""
        mark = max(cursor, self.high_water)
        self.cursor = max(self.cursor or 0, mark)
        self.last_seq = max(self.last_seq, mark)

    def _event(self, frame: dict[str, Any], now: float, step: Step) -> None:
        """A host's own event type: passed on in seq order, no version store."""
        seq = int(frame["seq"])
        if seq <= self.last_seq:
            self.stats.violations.append(
                f"conn {self.connection_id}: seq {seq} after {self.last_seq}"
            )
        self.high_water = max(self.high_water, seq)
        self.last_seq = max(self.last_seq, seq)
        self.cursor = max(self.cursor or 0, seq)
        payload = {
            **frame["payload"],
            "id": int(frame["subject"]),
            "version": int(frame["version"]),
        }
        step.updates.append(
            Update(
                seq=seq,
                order=payload,
                meta=frame.get("meta") or {},
                published_at=float(frame.get("published_at", 0.0)),
                received_at=now,
                type=str(frame["type"]),
            )
        )
        self.unacked += 1
        if self.unacked >= self.ack_every:
            step.send.append(self.ack())

    def _update(self, frame: dict[str, Any], now: float, step: Step) -> None:
        seq, order = int(frame["seq"]), frame["order"]
        order_id, version = int(order["id"]), int(order["version"])
        before = self.versions_here.get(order_id, 0)
        if version <= before:
            self.stats.violations.append(
                f"conn {self.connection_id}: order {order_id} v{version} after v{before}"
            )
        if seq <= self.last_seq:
            self.stats.violations.append(
                f"conn {self.connection_id}: seq {seq} after {self.last_seq}"
            )
        held = self.store.version(order_id)
        if held and version > held + 1:
            self.stats.gaps.append(f"order {order_id} v{held} then v{version}")
        self.versions_here[order_id] = max(before, version)
        self.high_water = max(self.high_water, seq)
        self.last_seq = max(self.last_seq, seq)
        self.cursor = max(self.cursor or 0, seq)
        applied = self.store.apply(order)
        if applied is Applied.NEW:
            self.stats.updates += 1
            step.updates.append(
                Update(
                    seq=seq,
                    order=order,
                    meta=frame.get("meta") or {},
                    published_at=float(frame.get("published_at", 0.0)),
                    received_at=now,
                )
            )
        elif applied is Applied.DUPLICATE:
            self.stats.duplicates += 1
        else:
            self.stats.stale += 1
        self.unacked += 1
        if self.unacked >= self.ack_every:
            step.send.append(self.ack())
