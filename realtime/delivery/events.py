"""An event as the hub and connections see it: its routing keys (the subject,
an order's id, and the owner), its type, the payload (for `order.update`,
the order as it stood after the change) and the writer's `meta`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.events.models import Event as Row

MESSAGE_TYPE = "order.event"
ORDER_UPDATE = "order.update"


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """Compared and hashed by identity: every receiver of one event holds the
    same object, which is what lets each transport frame it once."""

    seq: int
    subject: int
    owner_id: int
    version: int
    published_at: float
    payload: dict[str, Any]
    meta: dict[str, Any]
    type: str = ORDER_UPDATE

    def as_message(self) -> dict[str, Any]:
        return {
            "type": MESSAGE_TYPE,
            "seq": self.seq,
            "subject": self.subject,
            "owner_id": self.owner_id,
            "version": self.version,
            "published_at": self.published_at,
            "payload": self.payload,
            "meta": self.meta,
            "event_type": self.type,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        payload, meta = message["payload"], message["meta"]
        if not isinstance(payload, dict) or not isinstance(meta, dict):
            raise TypeError("an event's payload and meta are JSON objects")
        kind = message.get("event_type", ORDER_UPDATE)
        if not isinstance(kind, str):
            raise TypeError("an event's type is a string")
        return cls(
            seq=int(message["seq"]),
            subject=int(message["subject"]),
            owner_id=int(message["owner_id"]),
            version=int(message["version"]),
            published_at=float(message["published_at"]),
            payload=payload,
            meta=meta,
            type=kind,
        )

    @classmethod
    def from_row(cls, row: Row, published_at: float) -> Event:
        return cls(
            seq=row.seq,
            subject=row.subject,
            owner_id=row.owner,
            version=row.version,
            published_at=published_at,
            payload=row.payload,
            meta=row.meta,
            type=row.type,
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
