"""How many new connections' first reads (their request heads) one turn of
the event loop handles (docs/architecture.md, "Connect storms").

In a storm of thousands, the requests of every connection accepted so far
arrive together, and one turn of the loop parsed thousands of handshakes
while heartbeats waited seconds behind them. Each turn now handles at most
`most` first reads; the rest wait in arrival order, their sockets unread
(the kernel holds what else they send), and go first in the next turns.
A connection's later reads are never held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

Deliver = Callable[[bytes], None]


class HandshakePacer:
    __slots__ = ("_scheduled", "most", "reactor", "used", "waiting")

    def __init__(self, reactor: Any, most: int) -> None:
        if most < 1:
            raise ValueError("a handshake pacer needs room for one first read a turn")
        self.reactor = reactor
        self.most = most
        self.used = 0
        self.waiting: deque[tuple[Any, Deliver, bytes]] = deque()
        self._scheduled = False

    def pace(self, protocol: Any, connection: Any) -> None:
        """Hold `protocol`'s first read to the budget of its turn; the reads
        after it go straight through. `connection` holds the transport (the
        protocol itself may only wrap it)."""
        deliver: Deliver = protocol.dataReceived

        def first_read(data: bytes) -> None:
            # Later reads go straight to the protocol again.
            del protocol.dataReceived
            if self.used < self.most and not self.waiting:
                self._spend()
                deliver(data)
                return
            # Someone spent this turn's budget, so the next turn is already
            # due: it starts with the waiting.
            connection.transport.pauseProducing()
            self.waiting.append((connection, deliver, data))

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
            connection, deliver, data = self.waiting.popleft()
            transport = connection.transport
            if transport is None or not transport.connected or transport.disconnecting:
                continue
            self._spend()
            transport.resumeProducing()
            deliver(data)
