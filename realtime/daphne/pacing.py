"""How many new connections' first reads (their request heads) one turn of
the event loop handles (docs/architecture.md, "Connect storms").

In a storm of thousands, the requests of every connection accepted so far
arrive together, and one turn of the loop parsed thousands of handshakes
while heartbeats waited seconds behind them. Each turn now handles at most
`most` first reads; the rest wait in arrival order and go first in the next
turns. A connection's later reads are never held.

A waiting connection stays registered for reading: pausing and resuming each
one cost two selector changes apiece, a tenth of a storm's samples. Only a
connection that sends again while it waits is paused until its turn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

Deliver = Callable[[bytes], None]


class Waiting:
    """A connection's first read, and whatever else it sent before its turn."""

    __slots__ = ("connection", "data", "deliver", "paused", "protocol")

    def __init__(self, protocol: Any, connection: Any, deliver: Deliver, data: bytes) -> None:
        self.protocol = protocol
        self.connection = connection
        self.deliver = deliver
        self.data = data
        self.paused = False

    def more(self, data: bytes) -> None:
        if not self.paused:
            self.paused = True
            self.connection.transport.pauseProducing()
        self.data += data


class HandshakePacer:
    __slots__ = ("_scheduled", "most", "reactor", "used", "waiting")

    def __init__(self, reactor: Any, most: int) -> None:
        if most < 1:
            raise ValueError("a handshake pacer needs room for one first read a turn")
        self.reactor = reactor
        self.most = most
        self.used = 0
        self.waiting: deque[Waiting] = deque()
        self._scheduled = False

    def pace(self, protocol: Any, connection: Any) -> None:
        """Hold `protocol`'s first read to the budget of its turn; the reads
        after it go straight through. `connection` holds the transport (the
        protocol itself may only wrap it)."""
        deliver: Deliver = protocol.dataReceived

        def first_read(data: bytes) -> None:
            if self.used < self.most and not self.waiting:
                # Later reads go straight to the protocol again.
                del protocol.dataReceived
                self._spend()
                deliver(data)
                return
            # Someone spent this turn's budget, so the next turn is already
            # due: it starts with the waiting.
            waiting = Waiting(protocol, connection, deliver, data)
            protocol.dataReceived = waiting.more
            self.waiting.append(waiting)

        protocol.dataReceived = first_read

    def _spend(self) -> None:
        """One first read of this turn's budget; the next turn restores it."""
        self.used += 1
        if not self._scheduled:
            self._scheduled = True
            self.reactor.callLater(0, self._turn)

    def _turn(self) -> None:
        self._scheduled = False
        self.used = 0
        while self.waiting and self.used < self.most:
            waiting = self.waiting.popleft()
            del waiting.protocol.dataReceived
            transport = waiting.connection.transport
            if transport is None or not transport.connected or transport.disconnecting:
                continue
            self._spend()
            if waiting.paused:
                transport.resumeProducing()
            waiting.deliver(waiting.data)
