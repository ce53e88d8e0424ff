"""A database that ran the demo before the event log was an app of its own
keeps its history through `migrate`, on SQLite and PostgreSQL: the rows move
with their seqs and times, the pruning mark moves, the old tables go, and
the next event takes the next seq (realtime/events/migrations/0002)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

OLD_HISTORY = """
from django.contrib.auth import get_user_model
from django.db import connection
user = get_user_model().objects.create_user("old-timer")
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO orders_order (id, owner_id, status, version, items, created_at, updated_at) "
        "VALUES (3, %s, 'confirmed', 2, '[]', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')",
        [user.pk],
    )
    for seq, version, day in ((5, 1, 1), (9, 2, 2)):
        cursor.execute(
            "INSERT INTO orders_orderevent "
            "(seq, order_id, owner_id, version, payload, meta, created_at) "
            "VALUES (%s, 3, %s, %s, %s, '{}', %s)",
            [seq, user.pk, version, '{"id": 3, "status": "x"}', f"2026-01-0{day}T00:00:00Z"],
        )
    cursor.execute("INSERT INTO orders_eventlogstate (id, pruned_through) VALUES (1, 4)")
"""

AFTER = """
from django.db import connection
from realtime.events.models import Event, LogState
from realtime.orders.service import change_status
from realtime.orders.states import Status
rows = [(e.seq, e.subject, e.version, e.created_at.date().isoformat()) for e in Event.objects.all()]
print("=", rows)
print("=", LogState.objects.get(pk=1).pruned_through)
print("=", sorted(t for t in connection.introspection.table_names() if t.startswith("orders_")))
print("=", Event.objects.get(version=3, subject=change_status(3, Status.PREPARING)["id"]).seq)
"""


def test_the_demos_old_history_moves_to_the_event_log(manage: Callable[..., str]) -> None:
    """Seqs, subjects, versions and days survive; pruned_through moves; the next seq follows."""
    manage("migrate", "--no-input", "auth")
    manage("migrate", "--no-input", "orders", "0001")
    manage("shell", "-c", OLD_HISTORY)
    manage("migrate", "--no-input")
    said = manage("shell", "-c", AFTER).splitlines()
    rows, pruned, tables, next_seq = [line[2:] for line in said if line.startswith("= ")]
    assert rows == "[(5, 3, 1, '2026-01-01'), (9, 3, 2, '2026-01-02')]"
    assert pruned == "4"
    assert tables == "['orders_order']"
    assert next_seq == "10"
