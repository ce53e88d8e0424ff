"""Reading and pruning the event log (realtime/events/log.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime.events.log import events_after, latest_seq, prune, pruned_through
from realtime.events.models import Event
from realtime.events.publishing import publish

pytestmark = pytest.mark.django_db


def test_prune_deletes_old_events_but_keeps_the_newest_and_records_the_horizon() -> None:
    """Pruning past the retention keeps the newest event, so a fresh cursor stays valid."""
    for _ in range(3):
        publish(1, owner=2, payload={})
    Event.objects.update(created_at=timezone.now() - timedelta(hours=2))
    newest = latest_seq()
    assert prune(3600) == 2
    assert list(Event.objects.values_list("seq", flat=True)) == [newest]
    assert pruned_through() == newest - 1
    assert prune(3600) == 0


def test_events_after_takes_the_subjects_and_the_owners_events() -> None:
    """Without `everything`, a read admits the named subjects and, with `mine`, the user's own."""
    first = publish(1, owner=10, payload={})
    publish(2, owner=20, payload={})
    third = publish(3, owner=30, payload={})
    mine = events_after(0, user_id=10, everything=False, subjects=frozenset({3}))
    assert list(mine.values_list("seq", flat=True)) == [first, third]
    others = events_after(0, user_id=10, everything=False, subjects=frozenset(), mine=False)
    assert list(others) == []
    assert events_after(0).count() == 3
