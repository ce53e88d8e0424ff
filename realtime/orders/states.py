"""The order state machine (docs/protocol.md): pending → confirmed → preparing → ready
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


def allowed_next(current: Status) -> list[Status]:
    """The statuses an order in `current` may move to, in flow order."""
    return [target for target in Status if can_transition(current, target)]
