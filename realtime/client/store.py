"""The latest state per order, kept by version so that a duplicate or an older
version never overwrites a newer one; free of I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any


class Applied(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    STALE = "stale"


class OrderStore:
    def __init__(self) -> None:
        self.orders: dict[int, dict[str, Any]] = {}

    def version(self, order_id: int) -> int:
        order = self.orders.get(order_id)
        return int(order["version"]) if order is not None else 0

    def apply(self, order: Mapping[str, Any]) -> Applied:
        """Keep `order` if it is newer than what is held."""
        order_id, version = int(order["id"]), int(order["version"])
        held = self.version(order_id)
        if version == held:
            return Applied.DUPLICATE
        if version < held:
            return Applied.STALE
        self.orders[order_id] = dict(order)
        return Applied.NEW

    def merge(self, orders: Iterable[Mapping[str, Any]]) -> int:
        """Fold in a snapshot (after `resync_required`); returns how many were newer."""
        return sum(self.apply(order) is Applied.NEW for order in orders)

    def __len__(self) -> int:
        return len(self.orders)
