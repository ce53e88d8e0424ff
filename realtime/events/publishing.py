"""`publish()`: write an event in the caller's own transaction, send it after
commit (docs/integrate.md). The row and the change it describes commit
together or not at all, and `seq` is assigned in commit order, which is what
lets a client resume without loss.

    from realtime import publish

    with transaction.atomic():
        order.save()
        publish(order.pk, owner=order.customer_id, payload={"status": order.status})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, cast

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.signals import post_save
from django.forms.models import model_to_dict
from django.utils import timezone

from realtime.events import sql
from realtime.events.models import ORDER_UPDATE, Event, SubjectVersion
from realtime.events.signals import event_committed

MAX_META_BYTES = 256
MAX_TYPE_LENGTH = 64
MAX_ID = 2**63 - 1


def publish(
    subject: int,
    *,
    owner: int,
    payload: dict[str, Any],
    type: str = ORDER_UPDATE,
    version: int | None = None,
    meta: dict[str, Any] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> int:
    """Record that `subject` changed, visible to the user `owner` (and staff);
    returns the event's seq. Inside a transaction, the event commits with it
    and is sent after the commit (a rollback sends nothing); outside one, it
    commits at once. `version=None` counts versions per subject. For
    `order.update` the payload goes out as the frame's `order`, with `id` and
    `version` set."""
    check_id("subject", subject)
    check_id("owner", owner)
    if not isinstance(type, str) or not type or len(type) > MAX_TYPE_LENGTH:
        raise ValueError(f"type must be a string of 1 to {MAX_TYPE_LENGTH} characters")
    payload_text = encoded_json("payload", payload)
    meta = meta or {}
    meta_text = encoded_meta(meta)
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise ValueError("version must be a positive integer")
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False):
        if version is None:
            version = next_version(subject, using)
        if type == ORDER_UPDATE:
            payload = {**payload, "id": subject, "version": version}
            payload_text = sql.encode(payload)
        row = Event(
            subject=subject,
            owner=owner,
            version=version,
            type=type,
            payload=payload,
            meta=meta,
            created_at=timezone.now(),
        )
        if sql.handles(connection):
            row.seq = sql.insert_event(connection, row, payload_text, meta_text)
        else:
            row.save(using=using, force_insert=True)
        send_after_commit(row, using)
    return int(row.seq)


def send_after_commit(row: Event, using: str = DEFAULT_DB_ALIAS) -> None:
    """Send a written event once its transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send_committed(row), using=using, robust=True)


def send_committed(row: Event) -> None:
    """Send an event whose write has committed."""
    event_committed.send(sender=Event, row=row)


def next_version(subject: int, using: str) -> int:
    """The subject's next version, counted under the sequence lock."""
    connection = connections[using]
    if sql.handles(connection):
        return sql.next_version(connection, subject)
    counter, _ = SubjectVersion.objects.using(using).get_or_create(subject=subject)
    counter.version += 1
    counter.save(using=using, update_fields=["version"])
    return counter.version


def check_id(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ValueError(f"{name} must be an integer id (0 to 2**63 - 1), not {value!r}")


def check_text(text: str) -> str:
    """Text every database stores and every client decodes: PostgreSQL refuses
    NUL, and a lone surrogate has no UTF-8 encoding."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return text


def _texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def check_json(name: str, value: object) -> dict[str, Any]:
    """A JSON object every database stores: no NaN, no NUL, no lone surrogate."""
    encoded_json(name, value)
    return cast(dict[str, Any], value)


def encoded_json(name: str, value: object) -> str:
    """`value` checked as check_json does, as the text the event log stores."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object (a dict)")
    try:
        encoded = sql.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{name} must be plain JSON without NaN or infinite numbers") from exc
    # The strings themselves, not the encoding: json.dumps escapes NUL.
    for text in _texts(value):
        check_text(text)
    return encoded


def check_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    meta = meta or {}
    encoded_meta(meta)
    return meta


def encoded_meta(meta: dict[str, Any]) -> str:
    encoded = encoded_json("meta", meta)
    if len(encoded.encode()) > MAX_META_BYTES:
        raise ValueError(f"meta must encode to at most {MAX_META_BYTES} bytes")
    return encoded


Owner = str | Callable[[Any], int]
VersionSource = str | Callable[[Any], int]
ModelClass = type[models.Model]


def track(
    model: ModelClass,
    *,
    owner: Owner,
    serialize: Callable[[Any], dict[str, Any]] | None = None,
    type: str = ORDER_UPDATE,
    version: VersionSource | None = None,
) -> None:
    """Publish every `save()` of `model` (Django's post_save, in the save's
    transaction). `owner` is an attribute name (`"customer_id"`) or a
    function of the instance; `serialize` turns it into the payload (default:
    its fields as JSON); `version` is an attribute or function when the model
    keeps its own, else the package counts. A queryset's `.update()` and
    `bulk_create()` send no post_save: call `publish()` for those rows."""

    def published(sender: ModelClass, instance: Any, **kwargs: Any) -> None:
        publish(
            int(instance.pk),
            owner=int(value_of(owner, instance)),
            payload=(serialize or as_json)(instance),
            type=type,
            version=None if version is None else int(value_of(version, instance)),
            using=kwargs.get("using") or DEFAULT_DB_ALIAS,
        )

    label = model._meta.label
    post_save.connect(published, sender=model, weak=False, dispatch_uid=f"realtime.track.{label}")


def value_of(source: Owner, instance: Any) -> Any:
    return getattr(instance, source) if isinstance(source, str) else source(instance)


def as_json(instance: models.Model) -> dict[str, Any]:
    """A model instance's fields as plain JSON (dates and decimals as text)."""
    fields = model_to_dict(instance)
    fields["id"] = instance.pk
    converted: dict[str, Any] = json.loads(json.dumps(fields, cls=DjangoJSONEncoder))
    return converted
