"""What one connection's life writes to `websocket.log` and `/metrics`
(docs/operations.md): one line per lifecycle event, counted, each saying its
transport. A client's doing is INFO; an outage is WARNING; ERROR means a
server bug."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from realtime.core.connection import Connection, Note
from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER, log_event

logger = logging.getLogger(LIFECYCLE_LOGGER)

WARNINGS = frozenset({"connect failed", "request failed", "connection limit"})


class Outcome(Protocol):
    """How a connection ended, as its sender saw it."""

    close_code: int | None
    close_reason: str
    closed_by: str
    crashed: bool
    messages_out: int


class Journal:
    """The lines and metrics of one transport's connections."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.counters = {
            "heartbeat timeout": metrics.HEARTBEAT_TIMEOUTS.labels(transport=transport),
            "slow consumer": metrics.SLOW_CONSUMER_CLOSES.labels(transport=transport),
            "resume": metrics.RESUME_REPLAYS.labels(transport=transport),
        }
        self.replayed = metrics.REPLAYED_EVENTS.labels(transport=transport)
        self.sent = metrics.MESSAGES_SENT.labels(transport=transport)
        self.send_failures = metrics.SEND_FAILURES.labels(transport=transport)

    def log(self, event: str, level: int = logging.INFO, **fields: object) -> None:
        log_event(logger, event, level, **fields, transport=self.transport)

    def connecting(
        self, conn: Connection, client: list[object] | tuple[object, ...] | None
    ) -> None:
        peer = f"{client[0]}:{client[1]}" if client else "-"
        self.log("connect", conn=conn.connection_id, peer=peer)

    def accepted(self, conn: Connection, user: str, staff: bool, cursor: int) -> None:
        self.log("accept", conn=conn.connection_id, user=user, staff=staff, cursor=cursor)

    def record(self, conn: Connection, note: Note) -> None:
        fields = dict(note.fields)
        counter = self.counters.get(note.event)
        if counter is not None:
            counter.inc()
        if note.event == "resume":
            self.replayed.inc(int(str(fields["replayed"])))
        level = logging.WARNING if note.event in WARNINGS else logging.INFO
        self.log(note.event, level, conn=conn.connection_id, **fields)

    def closed(self, conn: Connection, out: Outcome, user: str, connected_at: float) -> None:
        code = out.close_code if out.close_code is not None else 1006
        metrics.CONNECTIONS_CLOSED.labels(
            code=str(code), by=out.closed_by, transport=self.transport
        ).inc()
        self.log(
            "close",
            logging.ERROR if out.crashed else logging.INFO,
            conn=conn.connection_id,
            user=user or "-",
            code=code,
            by=out.closed_by,
            reason=out.close_reason or "-",
            duration=round(time.monotonic() - connected_at, 3),
            messages_in=conn.messages_in,
            messages_out=out.messages_out,
        )
