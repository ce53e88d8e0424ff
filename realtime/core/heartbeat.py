"""Heartbeat state for one connection (docs/protocol.md), free of I/O.

The hub's ticker polls a connection when `next_due` comes; `poll` says
whether to send a heartbeat, close for silence, or do nothing (a frame
arrived since, which moved the silence deadline on).

A client is closed for silence only after it was asked: when the server's
own heartbeat goes out more than an interval late (a loop busy with a
connect storm), the silence deadline moves on by the excess, so a client is
never closed for failing to answer a heartbeat it was not sent. Lateness
within an interval (the ticker's own granularity) moves nothing, so the
deadline stays ahead of the WebSocket layer's ping timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class HeartbeatAction(Enum):
    NONE = "none"
    SEND = "send"
    TIMEOUT = "timeout"


@dataclass(slots=True)
class HeartbeatState:
    interval: float
    timeout: float
    last_received: float
    last_sent: float
    # A heartbeat went out since the last frame from the client.
    prompted: bool = False
    # How much more than an interval late that heartbeat went out: the silence
    # deadline moves on by as much.
    grace: float = 0.0

    @classmethod
    def start(cls, now: float, interval: float, timeout: float) -> HeartbeatState:
        if interval <= 0 or timeout <= 0:
            raise ValueError("heartbeat interval and timeout must be positive")
        return cls(interval, timeout, last_received=now, last_sent=now)

    def received(self, now: float) -> None:
        """Any frame from the client counts as life, and as an answer."""
        self.last_received = max(self.last_received, now)
        self.prompted = False
        self.grace = 0.0

    def sent(self, now: float) -> None:
        if not self.prompted:
            self.grace = max(0.0, now - self._next_heartbeat() - self.interval)
            self.prompted = True
        self.last_sent = now

    def silence(self, now: float) -> float:
        return now - self.last_received

    def _next_heartbeat(self) -> float:
        """When the next heartbeat is due on schedule (never before the last frame)."""
        return max(self.last_sent + self.interval, self.last_received)

    def _deadline(self) -> float:
        return self.last_received + self.timeout + self.grace

    def next_due(self) -> float:
        """When poll will next have something to do, if no frame arrives first."""
        return min(self.last_sent + self.interval, self._deadline())

    def poll(self, now: float) -> HeartbeatAction:
        due = self.last_sent + self.interval
        owed = not self.prompted and self._next_heartbeat() < self.last_received + self.timeout
        if owed and now >= due:
            # The client was never asked since its last frame: ask first, however late.
            return HeartbeatAction.SEND
        if now >= self._deadline():
            return HeartbeatAction.TIMEOUT
        if now >= due:
            return HeartbeatAction.SEND
        return HeartbeatAction.NONE
