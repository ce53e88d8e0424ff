"""A reconnecting Python client for `/ws/orders/` (docs/protocol.md, docs/guarantees.md)."""

from __future__ import annotations

from realtime.client.connection import (
    ClientStopped,
    OrdersClient,
    Resynced,
    State,
    StateChange,
)
from realtime.client.session import Stats, Update

__all__ = [
    "ClientStopped",
    "OrdersClient",
    "Resynced",
    "State",
    "StateChange",
    "Stats",
    "Update",
]
