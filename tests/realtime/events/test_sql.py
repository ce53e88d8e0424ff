"""`publish()` in hand-written SQL, on SQLite and PostgreSQL: the rows read
back through the ORM as published, versions counted per subject, and seqs
and versions distinct under concurrent publishers (realtime/events/sql.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Script = Callable[[str], dict[str, object]]

ROWS = """
import json
from django.db import transaction
from django.utils import timezone
from realtime import publish
from realtime.events.models import Event
before = timezone.now()
payload = {"a": "\\u00fc", "n": [1, 2.5, None]}
seqs = [publish(7, owner=1, payload=payload, meta={"m": i}) for i in range(2)]
with transaction.atomic():
    seqs.append(publish(7, owner=1, payload={}, version=10, type="thing.done"))
    seqs.append(publish(8, owner=2, payload={"x": {"y": True}}))
rows = Event.objects.order_by("seq")
print(json.dumps({
    "seqs": seqs == [row.seq for row in rows] and seqs == sorted(seqs),
    "rows": [[r.subject, r.owner, r.version, r.type, r.payload, r.meta] for r in rows],
    "stamped": all(before <= row.created_at <= timezone.now() for row in rows),
}))
"""

CONCURRENT = """
import json
from realtime import publish
seqs = []
def publisher():
    for _ in range(10):
        seqs.append(publish(1, owner=1, payload={}))
together(*[publisher] * 4)
from realtime.events.models import Event
print(json.dumps({
    "seqs": sorted(seqs) == sorted(Event.objects.values_list("seq", flat=True)),
    "versions": sorted(Event.objects.values_list("version", flat=True)),
}))
"""


def test_published_rows_read_back_as_published(django_script: Script) -> None:
    """Payloads, meta, types, versions and seqs survive the hand-written insert."""
    said = django_script(ROWS)
    assert said["seqs"] is True
    assert said["stamped"] is True
    assert said["rows"] == [
        [7, 1, 1, "order.update", {"a": "ü", "n": [1, 2.5, None], "id": 7, "version": 1}, {"m": 0}],
        [7, 1, 2, "order.update", {"a": "ü", "n": [1, 2.5, None], "id": 7, "version": 2}, {"m": 1}],
        [7, 1, 10, "thing.done", {}, {}],
        [8, 2, 1, "order.update", {"x": {"y": True}, "id": 8, "version": 1}, {}],
    ]


def test_concurrent_publishers_get_distinct_seqs_and_versions(django_script: Script) -> None:
    """Forty publishes of one subject from four threads: forty seqs, versions 1 to 40."""
    said = django_script(CONCURRENT)
    assert said["seqs"] is True
    assert said["versions"] == list(range(1, 41))
