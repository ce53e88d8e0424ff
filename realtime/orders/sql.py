"""The demo's status change in hand-written SQL on PostgreSQL and SQLite: one
statement changes the order if its status allows the change, and returns
what the event and the answer carry, where the ORM spent a locking read, an
update and most of a PATCH's CPU on building them (docs/architecture.md,
"The write path"). Other databases go through the ORM (realtime/orders/service.py).

The status test is in the UPDATE's WHERE, so it is decided on the row as it
stands when the row lock is granted: two writers racing from the same status
cannot both succeed. A plain UPDATE locks the order row only, and without
blocking foreign-key checks, as the ORM's FOR NO KEY UPDATE OF did."""

from __future__ import annotations

import datetime
import json
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field

from realtime.orders.models import Order
from realtime.orders.states import Status

VENDORS = frozenset({"postgresql", "sqlite"})


class Changed(NamedTuple):
    owner_id: int
    owner: str
    version: int
    items: list[Any]
    created_at: datetime.datetime


def handles(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor in VENDORS


def _update(sources: int, owned: bool) -> str:
    users = get_user_model()
    field = users._meta.get_field(users.USERNAME_FIELD)
    assert isinstance(field, Field)
    username = field.column
    whose = " AND owner_id = %s" if owned else ""
    sources_in = ", ".join(["%s"] * sources)
    return (
        f"UPDATE {Order._meta.db_table} SET status = %s, version = version + 1, updated_at = %s "
        f"WHERE id = %s AND status IN ({sources_in}){whose} "
        f"RETURNING owner_id, (SELECT {username} FROM {users._meta.db_table} "
        f"WHERE {users._meta.pk.column} = owner_id), version, items, created_at"
    )


def change(
    connection: BaseDatabaseWrapper,
    order_id: int,
    status: Status,
    sources: list[Status],
    owner_id: int | None,
    now: datetime.datetime,
) -> Changed | None:
    """Move the order to `status` if it is in one of `sources` (and owned by
    `owner_id`, if given); None when no such order is there to change."""
    if not sources:
        return None
    params: list[Any] = [status.value, connection.ops.adapt_datetimefield_value(now), order_id]
    params += [source.value for source in sources]
    if owner_id is not None:
        params.append(owner_id)
    with connection.cursor() as cursor:
        cursor.execute(_update(len(sources), owner_id is not None), params)
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
