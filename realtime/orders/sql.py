"""The demo's status change in hand-written SQL on PostgreSQL and SQLite: one
statement changes the order if its status allows the change, and returns
what the event and the answer carry, where the ORM spent a locking read, an
update and most of a PATCH's CPU on building them (docs/architecture.md,
"The write path"). Other databases go through the ORM (realtime/orders/service.py).

The status test is in the UPDATE's WHERE, so it is decided on the row as it
stands when the row lock is granted: two writers racing from the same status
cannot both succeed. A plain UPDATE locks the order row only, and without
blocking foreign-key checks, as the ORM's FOR NO KEY UPDATE OF did.

On PostgreSQL the event is written by the same statement (`change_and_record`):
one round trip and no transaction block instead of BEGIN, UPDATE, INSERT and
COMMIT. The statement builds the event's payload itself, so what is stored,
sent and answered is that one JSON text; the sequence lock is taken in the
UPDATE's RETURNING, after the order row's lock, in the order two-statement
writers take them."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from realtime.events import sql as events_sql
from realtime.events.models import ORDER_UPDATE
from realtime.orders.models import Order
from realtime.orders.states import Status

if TYPE_CHECKING:
    from psycopg import AsyncConnection

VENDORS = frozenset({"postgresql", "sqlite"})


class Changed(NamedTuple):
    owner_id: int
    owner: str
    version: int
    items: list[Any]
    created_at: datetime.datetime


class Wanted(NamedTuple):
    """A status change asked for: the order, its new status, the statuses it
    may move from, and whose the order must be (None: anyone's)."""

    order_id: int
    status: Status
    sources: list[Status]
    owner_id: int | None

    def params(self, connection: BaseDatabaseWrapper, now: datetime.datetime) -> list[Any]:
        """The UPDATE's parameters, in the order `_update_where` asks for them."""
        params: list[Any] = [self.status.value, connection.ops.adapt_datetimefield_value(now)]
        params += [self.order_id, *(source.value for source in self.sources)]
        if self.owner_id is not None:
            params.append(self.owner_id)
        return params


class Recorded(NamedTuple):
    seq: int
    owner_id: int
    version: int
    payload: dict[str, Any]


# `datetime.isoformat()` of an aware UTC time, as Order.as_dict answers:
# microseconds only when there are any, always six digits.
_ISOFORMAT = (
    "to_char(created_at AT TIME ZONE 'UTC', CASE WHEN created_at = date_trunc('second', "
    """created_at) THEN 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"' """
    """ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"' END)"""
)


def handles(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor in VENDORS


def records_with_change(connection: BaseDatabaseWrapper) -> bool:
    """Whether `change_and_record` is there for this database."""
    return connection.vendor == "postgresql"


def _owner_name() -> str:
    users = get_user_model()
    field = users._meta.get_field(users.USERNAME_FIELD)
    assert isinstance(field, Field)
    return (
        f"(SELECT {field.column} FROM {users._meta.db_table} "
        f"WHERE {users._meta.pk.column} = owner_id)"
    )


def _update_where(wanted: Wanted) -> str:
    whose = "" if wanted.owner_id is None else " AND owner_id = %s"
    sources_in = ", ".join(["%s"] * len(wanted.sources))
    return (
        f"UPDATE {Order._meta.db_table} SET status = %s, version = version + 1, updated_at = %s "
        f"WHERE id = %s AND status IN ({sources_in}){whose}"
    )


def _update(wanted: Wanted) -> str:
    return (
        f"{_update_where(wanted)} RETURNING owner_id, {_owner_name()}, version, items, created_at"
    )


def _change_and_record(wanted: Wanted) -> str:
    payload = (
        f"jsonb_build_object('id', id, 'owner', {_owner_name()}, 'status', status, "
        f"'version', version, 'items', items, 'created_at', {_ISOFORMAT}, 'updated_at', %s::text)"
    )
    return (
        f"WITH changed AS ({_update_where(wanted)} "
        f"RETURNING id, owner_id, version, {payload} AS payload, {events_sql.SEQ_LOCK} AS locked) "
        f"{events_sql.INSERT_INTO} SELECT id, owner_id, version, %s, payload, %s::jsonb, %s "
        "FROM changed RETURNING seq, owner, version, payload::text"
    )


def change(
    connection: BaseDatabaseWrapper, wanted: Wanted, now: datetime.datetime
) -> Changed | None:
    """Make the change if the order is in one of its sources (and is the
    owner's); None when no such order is there to change."""
    with connection.cursor() as cursor:
        cursor.execute(_update(wanted), wanted.params(connection, now))
        row = cursor.fetchone()
    if row is None:
        return None
    owner, username, version, items, created_at = row
    return Changed(
        int(owner),
        str(username),
        int(version),
        json.loads(items) if isinstance(items, str | bytes) else items,
        as_datetime(created_at),
    )


def change_and_record(
    connection: BaseDatabaseWrapper, wanted: Wanted, now: datetime.datetime, meta: str
) -> Recorded | None:
    """PostgreSQL: `change`, and the change's `order.update` event (`meta` is
    its JSON text) written by the same statement; None when nothing changed."""
    with connection.cursor() as cursor:
        cursor.execute(_change_and_record(wanted), _record_params(connection, wanted, now, meta))
        return _recorded(cursor.fetchone())


async def achange_and_record(
    borrowed: AsyncConnection[Any],
    connection: BaseDatabaseWrapper,
    wanted: Wanted,
    now: datetime.datetime,
    meta: str,
) -> Recorded | None:
    """`change_and_record` on a connection from `realtime.orders.pool`
    (`connection`, Django's, only adapts the parameters)."""
    params = _record_params(connection, wanted, now, meta)
    cursor = await borrowed.execute(_change_and_record(wanted), params)
    return _recorded(await cursor.fetchone())


def _record_params(
    connection: BaseDatabaseWrapper, wanted: Wanted, now: datetime.datetime, meta: str
) -> list[Any]:
    stamp = connection.ops.adapt_datetimefield_value(now)
    return [*wanted.params(connection, now), now.isoformat(), ORDER_UPDATE, meta, stamp]


def _recorded(row: tuple[Any, ...] | None) -> Recorded | None:
    if row is None:
        return None
    seq, owner, version, payload = row
    return Recorded(int(seq), int(owner), int(version), json.loads(payload))


def current_status(
    connection: BaseDatabaseWrapper, order_id: int, owner_id: int | None
) -> Status | None:
    """The order's status, or None when there is no such order (owned by `owner_id`)."""
    query = f"SELECT status FROM {Order._meta.db_table} WHERE id = %s"
    params: list[Any] = [order_id]
    if owner_id is not None:
        query += " AND owner_id = %s"
        params.append(owner_id)
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        row = cursor.fetchone()
    return None if row is None else Status(row[0])


def as_datetime(value: datetime.datetime | str) -> datetime.datetime:
    """SQLite hands back the text Django stored: naive UTC."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value
