"""An order event as the hub and connections see it: its routing keys, the
order as it stood after the change, and the writer's `meta`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.orders.models import OrderEvent

MESSAGE_TYPE = "order.event"


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """Compared and hashed by identity: every receiver of one event holds the
    same object, which is what lets the WebSocket layer frame it once."""

    seq: int
    order_id: int
    owner_id: int
    version: int
    published_at: float
    order: dict[str, Any]
    meta: dict[str, Any]

    def as_message(self) -> dict[str, Any]:
        return {
            "type": MESSAGE_TYPE,
            "seq": self.seq,
            "order_id": self.order_id,
            "owner_id": self.owner_id,
            "version": self.version,
            "published_at": self.published_at,
            "order": self.order,
            "meta": self.meta,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        order, meta = message["order"], message["meta"]
        if not isinstance(order, dict) or not isinstance(meta, dict):
            raise TypeError("an event's order and meta are JSON objects")
        return cls(
            seq=int(message["seq"]),
            order_id=int(message["order_id"]),
            owner_id=int(message["owner_id"]),
            version=int(message["version"]),
            published_at=float(message["published_at"]),
            order=order,
            meta=meta,
        )

    @classmethod
    def from_row(cls, row: OrderEvent, published_at: float) -> Event:
        return cls(
            seq=row.seq,
            order_id=row.order_id,
            owner_id=row.owner_id,
            version=row.version,
            published_at=published_at,
            order=row.payload,
            meta=row.meta,
        )


@dataclass(frozen=True, slots=True)
class History:
    """One read of the event log past some seq `after`.

    `head` is the newest seq committed when the read began, so the read saw
    every event up to it; `horizon` is the newest seq pruning had removed when
    the read ended (past `after`, events may be missing from `events`).
    `complete` says no visible event past the last one returned existed;
    `source` says where the events came from ("database" or "memory")."""

    events: list[Event]
    complete: bool
    head: int
    horizon: int
    source: str = "database"
