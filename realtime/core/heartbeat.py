"""Heartbeat state for one connection (docs/protocol.md), free of I/O.

The hub's ticker polls a connection when `next_due` comes; `poll` says
whether to send a heartbeat, close for silence, or do nothing (a frame
arrived since, which moved the silence deadline on).
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

    @classmethod
    def start(cls, now: float, interval: float, timeout: float) -> HeartbeatState:
        if interval <= 0 or timeout <= 0:
            raise ValueError("heartbeat interval and timeout must be positive")
        return cls(interval, timeout, last_received=now, last_sent=now)

    def received(self, now: float) -> None:
        """Any frame from the client counts as life."""
        self.last_received = max(self.last_received, now)

    def sent(self, now: float) -> None:
        self.last_sent = now

    def silence(self, now: float) -> float:
        return now - self.last_received

    def next_due(self) -> float:
        """When poll will next have something to do, if no frame arrives first."""
        return min(self.last_sent + self.interval, self.last_received + self.timeout)

    def poll(self, now: float) -> HeartbeatAction:
        if self.silence(now) >= self.timeout:
            return HeartbeatAction.TIMEOUT
        if now - self.last_sent >= self.interval:
            return HeartbeatAction.SEND
        return HeartbeatAction.NONE
