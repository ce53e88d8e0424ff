"""The event log's write, in hand-written SQL on PostgreSQL and SQLite, where
the ORM's model instance and query building cost a write more CPU than its
round trips did, and taking the sequence lock cost a round trip of its own
(docs/architecture.md, "The write path"). Other databases go through the ORM.

On PostgreSQL the lock that serialises seq assignment with commit is taken
by the statement that inserts (an advisory lock is re-entrant, so a
transaction publishing twice takes it twice, harmlessly); on SQLite the
database's write lock already serialises writers."""

from __future__ import annotations

import json
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from realtime.events.models import Event, SubjectVersion

# Any constant works: it only has to be the same for every writer.
EVENT_SEQ_LOCK = 0x6F726465
VENDORS = frozenset({"postgresql", "sqlite"})

_VERSION = SubjectVersion._meta.db_table
# The lock and the insert, also for the statement that changes an order and
# writes its event at once (realtime/orders/sql.py).
SEQ_LOCK = f"pg_advisory_xact_lock({EVENT_SEQ_LOCK})"
_LOCKED = f"(SELECT {SEQ_LOCK}) AS seq_lock"
INSERT_INTO = (
    f"INSERT INTO {Event._meta.db_table} (subject, owner, version, type, payload, meta, created_at)"
)

INSERT_EVENT = {
    "postgresql": (
        f"{INSERT_INTO} SELECT %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s "
        f"FROM {_LOCKED} RETURNING seq"
    ),
    "sqlite": f"{INSERT_INTO} VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq",
}
_COUNT = f"ON CONFLICT (subject) DO UPDATE SET version = {_VERSION}.version + 1 RETURNING version"
NEXT_VERSION = {
    "postgresql": f"INSERT INTO {_VERSION} (subject, version) SELECT %s, 1 FROM {_LOCKED} {_COUNT}",
    "sqlite": f"INSERT INTO {_VERSION} (subject, version) VALUES (%s, 1) {_COUNT}",
}


def handles(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor in VENDORS


def encode(value: dict[str, Any]) -> str:
    """The JSON text of a payload or meta as stored: compact, and refusing
    NaN and infinities, which JSON has no text for."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def next_version(connection: BaseDatabaseWrapper, subject: int) -> int:
    """The subject's next version, counted under the sequence lock."""
    with connection.cursor() as cursor:
        cursor.execute(NEXT_VERSION[connection.vendor], [subject])
        return int(cursor.fetchone()[0])


def insert_event(connection: BaseDatabaseWrapper, row: Event, payload: str, meta: str) -> int:
    """One statement: `row`, under the sequence lock; returns its seq.
    `payload` and `meta` are the row's payload and meta as JSON text."""
    stamp = connection.ops.adapt_datetimefield_value(row.created_at)
    params: list[Any] = [row.subject, row.owner, row.version, row.type, payload, meta, stamp]
    with connection.cursor() as cursor:
        cursor.execute(INSERT_EVENT[connection.vendor], params)
        return int(cursor.fetchone()[0])
