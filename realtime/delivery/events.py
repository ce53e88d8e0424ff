"""An order event as the hub and connections see it: routing keys plus the
`order.update` frame, encoded once for every receiver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from realtime.ws import protocol
from realtime.ws.wire import text_frame

if TYPE_CHECKING:
    from realtime.orders.models import OrderEvent

MESSAGE_TYPE = "order.event"


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    order_id: int
    owner_id: int
    version: int
    published_at: float
    frame: str
    # The frame as it goes on the wire, built once for every connection.
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire", text_frame(self.frame.encode()))

    def as_message(self) -> dict[str, Any]:
        return {
            "type": MESSAGE_TYPE,
            "seq": self.seq,
            "order_id": self.order_id,
            "owner_id": self.owner_id,
            "version": self.version,
            "published_at": self.published_at,
            "frame": self.frame,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        return cls(
            seq=int(message["seq"]),
            order_id=int(message["order_id"]),
            owner_id=int(message["owner_id"]),
            version=int(message["version"]),
            published_at=float(message["published_at"]),
            frame=str(message["frame"]),
        )

    @classmethod
    def from_row(cls, row: OrderEvent, published_at: float) -> Event:
        return cls.build(
            seq=row.seq,
            order_id=row.order_id,
            owner_id=row.owner_id,
            version=row.version,
            payload=row.payload,
            meta=row.meta,
            published_at=published_at,
        )

    @classmethod
    def build(
        cls,
        *,
        seq: int,
        order_id: int,
        owner_id: int,
        version: int,
        payload: dict[str, Any],
        meta: dict[str, Any],
        published_at: float,
    ) -> Event:
        frame = protocol.encode(protocol.order_update(seq, payload, published_at, meta))
        return cls(seq, order_id, owner_id, version, published_at, frame)
