from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from realtime.orders.states import Status


class Order(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(
        max_length=16, choices=[(s.value, s.value) for s in Status], default=Status.PENDING
    )
    version = models.PositiveIntegerField(default=1)
    items = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "owner": self.owner.get_username(),
            "status": self.status,
            "version": self.version,
            "items": self.items,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class OrderEvent(models.Model):
    """One row per order change, written in the order's transaction (the outbox).

    `seq` is assigned in commit order, so a cursor never skips a late commit.
    """

    seq = models.BigAutoField(primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    owner_id = models.BigIntegerField()
    version = models.PositiveIntegerField()
    payload = models.JSONField()
    meta = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["owner_id", "seq"], name="event_owner_seq")]

    def as_update(self) -> dict[str, Any]:
        """The event as `GET /api/events/` lists it: an `order.update` frame."""
        return {
            "type": "order.update",
            "seq": self.seq,
            "order": self.payload,
            "published_at": self.created_at.timestamp(),
            "meta": self.meta,
        }


class EventLogState(models.Model):
    """A single row: the highest seq that pruning has removed."""

    pruned_through = models.BigIntegerField(default=0)
