from __future__ import annotations

from realtime.client.store import Applied, OrderStore


def order(order_id: int, version: int, status: str = "pending") -> dict[str, object]:
    return {"id": order_id, "version": version, "status": status}


def test_newer_versions_replace_and_older_or_equal_ones_are_ignored() -> None:
    """The store keeps the newest version per order whatever the arrival order."""
    store = OrderStore()
    assert store.apply(order(1, 2, "confirmed")) is Applied.NEW
    assert store.apply(order(1, 2, "confirmed")) is Applied.DUPLICATE
    assert store.apply(order(1, 1, "pending")) is Applied.STALE
    assert store.orders[1]["status"] == "confirmed"
    assert store.apply(order(1, 3, "preparing")) is Applied.NEW
    assert store.version(1) == 3
    assert store.version(99) == 0


def test_a_snapshot_merges_without_regressing_newer_live_state() -> None:
    """After resync, a snapshot older than live updates does not overwrite them."""
    store = OrderStore()
    store.apply(order(1, 4, "ready"))
    assert store.merge([order(1, 3, "preparing"), order(2, 1)]) == 1
    assert store.orders[1]["status"] == "ready"
    assert len(store) == 2
