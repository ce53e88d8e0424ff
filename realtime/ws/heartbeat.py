"""Heartbeat state for one connection (DESIGN §4), free of I/O.

The hub's ticker polls every connection; `poll` says whether to send a
heartbeat, close for silence, or do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class HeartbeatAction(Enum):
    NONE = "none"
    SEND = "send"
    TIMEOUT = "timeout"


@dataclass
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

    def poll(self, now: float) -> HeartbeatAction:
        if self.silence(now) >= self.timeout:
            return HeartbeatAction.TIMEOUT
        if now - self.last_sent >= self.interval:
            return HeartbeatAction.SEND
        return HeartbeatAction.NONE


def tick_period(interval: float, timeout: float) -> float:
    """How often the ticker polls: bounds how late a heartbeat or a 4408 can be."""
    return max(0.05, min(1.0, interval / 4, timeout / 4))
