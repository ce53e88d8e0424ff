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
