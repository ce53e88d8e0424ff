"""The event log (docs/guarantees.md): one row per change, written in the
same transaction as the change (the outbox), `seq` assigned in commit order."""

from __future__ import annotations

from django.db import models

ORDER_UPDATE = "order.update"


class Event(models.Model):
    """A change of `subject` (an order's id: the `order:<id>` scope), seen by
    its `owner` (a user id: the `mine` scope) and by staff (`all`)."""

    seq = models.BigAutoField(primary_key=True)
    subject = models.BigIntegerField()
    owner = models.BigIntegerField()
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=64, default=ORDER_UPDATE)
    payload = models.JSONField()
    meta = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["owner", "seq"], name="realtime_event_owner_seq"),
            models.Index(fields=["subject", "seq"], name="realtime_event_subject_seq"),
        ]


class SubjectVersion(models.Model):
    """The newest version `publish(version=None)` gave each subject."""

    subject = models.BigIntegerField(primary_key=True)
    version = models.PositiveIntegerField(default=0)


class LogState(models.Model):
    """A single row: the highest seq that pruning has removed."""

    pruned_through = models.BigIntegerField(default=0)


class Credential(models.Model):
    """How many times a user signed out everywhere (or was deactivated): part
    of the credential every token carries (realtime/auth/standings.py)."""

    user_id = models.BigIntegerField(primary_key=True)
    signed_out = models.PositiveIntegerField(default=0)
