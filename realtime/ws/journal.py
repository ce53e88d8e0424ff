"""What one connection's life writes to `websocket.log` and `/metrics`
(docs/operations.md): one line per lifecycle event, counted. A client's
doing is INFO; an outage is WARNING; ERROR means a server bug."""

from __future__ import annotations

import logging
import time

from realtime.observability import metrics
from realtime.observability.logging import LIFECYCLE_LOGGER, log_event
from realtime.ws.connection import Connection, Note
from realtime.ws.sending import Sender

logger = logging.getLogger(LIFECYCLE_LOGGER)

NOTE_METRICS = {
    "heartbeat timeout": metrics.HEARTBEAT_TIMEOUTS,
    "slow consumer": metrics.SLOW_CONSUMER_CLOSES,
    "resume": metrics.RESUME_REPLAYS,
}
WARNINGS = frozenset({"connect failed", "request failed"})


def connecting(conn: Connection, client: list[object] | tuple[object, ...] | None) -> None:
    peer = f"{client[0]}:{client[1]}" if client else "-"
    log_event(logger, "connect", conn=conn.connection_id, peer=peer)


def accepted(conn: Connection, user: str, staff: bool, cursor: int) -> None:
    log_event(logger, "accept", conn=conn.connection_id, user=user, staff=staff, cursor=cursor)


def record(conn: Connection, note: Note) -> None:
    fields = dict(note.fields)
    counter = NOTE_METRICS.get(note.event)
    if counter is not None:
        counter.inc()
    if note.event == "resume":
        metrics.REPLAYED_EVENTS.inc(int(str(fields["replayed"])))
    level = logging.WARNING if note.event in WARNINGS else logging.INFO
    log_event(logger, note.event, level, conn=conn.connection_id, **fields)


def closed(conn: Connection, out: Sender, user: str, connected_at: float) -> None:
    code = out.close_code if out.close_code is not None else 1006
    metrics.CONNECTIONS_CLOSED.labels(code=str(code), by=out.closed_by).inc()
    log_event(
        logger,
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
