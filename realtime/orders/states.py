"""The order state machine (DESIGN §2): pending → confirmed → preparing → ready
→ delivered, and any state but the two final ones → cancelled."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PREPARING = "preparing"
    READY = "ready"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


NEXT = {
    Status.PENDING: Status.CONFIRMED,
    Status.CONFIRMED: Status.PREPARING,
    Status.PREPARING: Status.READY,
    Status.READY: Status.DELIVERED,
}
FINAL = frozenset({Status.DELIVERED, Status.CANCELLED})


def can_transition(current: Status, target: Status) -> bool:
    if current in FINAL:
        return False
    return target == Status.CANCELLED or NEXT.get(current) == target
