"""Reading and pruning the event log (docs/guarantees.md)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from realtime.events.models import Event, LogState


def latest_seq() -> int:
    return Event.objects.aggregate(m=Max("seq"))["m"] or 0


def pruned_through() -> int:
    state = LogState.objects.filter(pk=1).first()
    return state.pruned_through if state else 0


def events_after(
    after: int,
    *,
    before: int | None = None,
    user_id: int | None = None,
    everything: bool = True,
    subjects: frozenset[int] = frozenset(),
    mine: bool = True,
) -> QuerySet[Event]:
    """Events with `after` < seq (< `before`) in seq order: all of them, or
    those of `subjects` and (with `mine`) those `user_id` owns."""
    rows = Event.objects.filter(seq__gt=after)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    if not everything:
        condition = Q(subject__in=subjects)
        if mine and user_id is not None:
            condition |= Q(owner=user_id)
        rows = rows.filter(condition)
    return rows.order_by("seq")


def prune(retention_seconds: int) -> int:
    """Delete events older than the retention; returns how many went."""
    cutoff = timezone.now() - timedelta(seconds=retention_seconds)
    with transaction.atomic():
        doomed = Event.objects.filter(created_at__lt=cutoff)
        highest = doomed.aggregate(m=Max("seq"))["m"]
        if highest is None:
            return 0
        # Never delete the newest event: it carries the cursor a fresh client starts from.
        highest = min(highest, latest_seq() - 1)
        if highest <= 0:
            return 0
        deleted, _ = Event.objects.filter(seq__lte=highest).delete()
        state, _ = LogState.objects.select_for_update().get_or_create(pk=1)
        state.pruned_through = max(state.pruned_through, highest)
        state.save()
    return deleted
