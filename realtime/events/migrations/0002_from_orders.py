"""A database that ran the demo before the event log was an app of its own
keeps its history: the demo's `orders_orderevent` rows move here with their
seqs and times (so every client's cursor stays valid and retention still
counts from when they happened), and so does the pruning mark. The demo's
next migration drops the old tables after this one."""

from __future__ import annotations

from typing import Any

from django.db import migrations

OLD_EVENTS = "orders_orderevent"
OLD_STATE = "orders_eventlogstate"


def move_events(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    if OLD_EVENTS not in tables:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO realtime_events_event "
            "(seq, subject, owner, version, type, payload, meta, created_at) "
            "SELECT seq, order_id, owner_id, version, 'order.update', payload, meta, created_at "
            f"FROM {OLD_EVENTS}"
        )
        if OLD_STATE in tables:
            cursor.execute(
                "INSERT INTO realtime_events_logstate (id, pruned_through) "
                f"SELECT 1, MAX(pruned_through) FROM {OLD_STATE} HAVING COUNT(*) > 0"
            )
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('realtime_events_event', 'seq'), "
                "COALESCE(MAX(seq), 1), MAX(seq) IS NOT NULL) FROM realtime_events_event"
            )


class Migration(migrations.Migration):
    dependencies = [("realtime_events", "0001_initial")]

    operations = [migrations.RunPython(move_events, migrations.RunPython.noop)]
