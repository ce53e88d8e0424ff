"""Writing orders: every change bumps the version and appends its event in the
same transaction, then announces it after commit (docs/guarantees.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from realtime.orders.models import EventLogState, Order, OrderEvent
from realtime.orders.signals import event_committed
from realtime.orders.states import Status, allowed_next, can_transition

MAX_META_BYTES = 256
# Any constant works: it only has to be the same for every writer.
EVENT_SEQ_LOCK = 0x6F726465


class TransitionError(Exception):
    def __init__(self, current: Status, target: Status) -> None:
        self.current, self.target = current, target
        self.allowed = allowed_next(current)
        allowed = ", ".join(self.allowed) or "none, the order is final"
        super().__init__(
            f"cannot change status from '{current}' to '{target}'; allowed next: {allowed}"
        )


def check_text(text: str) -> str:
    """Text every database stores and every client decodes: PostgreSQL refuses
    NUL, and a lone surrogate has no UTF-8 encoding."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return text


def _texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def check_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    meta = meta or {}
    try:
        encoded = json.dumps(meta, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError) as exc:
        raise ValueError("meta must be plain JSON without NaN or infinite numbers") from exc
    # The strings themselves, not `encoded`: json.dumps escapes NUL.
    for text in _texts(meta):
        check_text(text)
    if len(encoded.encode()) > MAX_META_BYTES:
        raise ValueError(f"meta must encode to at most {MAX_META_BYTES} bytes")
    return meta


def _lock_event_sequence() -> None:
    """Serialise seq assignment with commit on PostgreSQL; SQLite's write lock already does."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_SEQ_LOCK])


def _append_event(order: Order, meta: dict[str, Any]) -> OrderEvent:
    _lock_event_sequence()
    event = OrderEvent.objects.create(
        order=order,
        owner_id=order.owner_id,
        version=order.version,
        payload=order.as_dict(),
        meta=meta,
    )
    transaction.on_commit(lambda: event_committed.send(sender=OrderEvent, row=event), robust=True)
    return event


def create_order(
    owner: User, items: list[dict[str, Any]], meta: dict[str, Any] | None = None
) -> Order:
    meta = check_meta(meta)
    with transaction.atomic():
        order = Order.objects.create(owner=owner, items=items)
        _append_event(order, meta)
    return order


def change_status(
    order_id: int,
    status: Status,
    meta: dict[str, Any] | None = None,
    *,
    owner_id: int | None = None,
) -> Order:
    """Order.DoesNotExist if there is no such order (owned by `owner_id`, if given)."""
    meta = check_meta(meta)
    with transaction.atomic():
        # Lock the order row only, and without blocking foreign-key checks: a
        # FOR UPDATE on the joined owner row would make another writer's event
        # insert (which holds the seq lock) wait on this one, a deadlock.
        orders = Order.objects.select_for_update(of=("self",), no_key=True).select_related("owner")
        if owner_id is not None:
            orders = orders.filter(owner_id=owner_id)
        order = orders.get(pk=order_id)
        current = Status(order.status)
        if not can_transition(current, status):
            raise TransitionError(current, status)
        order.status = status
        order.version += 1
        order.save(update_fields=["status", "version", "updated_at"])
        _append_event(order, meta)
    return order


def latest_seq() -> int:
    return OrderEvent.objects.aggregate(m=Max("seq"))["m"] or 0


def pruned_through() -> int:
    state = EventLogState.objects.filter(pk=1).first()
    return state.pruned_through if state else 0


def prune_events(retention_seconds: int) -> int:
    """Delete events older than the retention; returns how many went."""
    cutoff = timezone.now() - timedelta(seconds=retention_seconds)
    with transaction.atomic():
        doomed = OrderEvent.objects.filter(created_at__lt=cutoff)
        highest = doomed.aggregate(m=Max("seq"))["m"]
        if highest is None:
            return 0
        # Never delete the newest event: it carries the cursor a fresh client starts from.
        newest = latest_seq()
        highest = min(highest, newest - 1)
        if highest <= 0:
            return 0
        deleted, _ = OrderEvent.objects.filter(seq__lte=highest).delete()
        state, _ = EventLogState.objects.select_for_update().get_or_create(pk=1)
        state.pruned_through = max(state.pruned_through, highest)
        state.save()
    return deleted
