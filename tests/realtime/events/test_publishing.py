"""`publish()` and `track()`: the event is written in the caller's transaction
and sent after its commit, versions are counted per subject, and what cannot
be stored or sent is refused (realtime/events/publishing.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save

from realtime import publish
from realtime.events.models import Event
from realtime.events.publishing import check_meta, check_text, track
from realtime.events.signals import event_committed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent() -> Iterator[list[Event]]:
    """The rows announced after commit."""
    rows: list[Event] = []

    def record(sender: object, row: Event, **kwargs: Any) -> None:
        rows.append(row)

    event_committed.connect(record, dispatch_uid="test.sent")
    yield rows
    event_committed.disconnect(dispatch_uid="test.sent")


def test_an_event_is_sent_only_once_its_transaction_commits(sent: list[Event]) -> None:
    """Inside atomic(), nothing goes out until the commit; then the row does, with its seq."""
    with transaction.atomic():
        seq = publish(7, owner=1, payload={"status": "paid"})
        assert sent == []
    assert [row.seq for row in sent] == [seq]


def change_and_fail() -> None:
    with transaction.atomic():
        publish(7, owner=1, payload={})
        raise RuntimeError("the host's change failed")


def test_a_rollback_sends_nothing_and_keeps_nothing(sent: list[Event]) -> None:
    """An exception in the caller's transaction takes the event with it."""
    with pytest.raises(RuntimeError, match="the host's change failed"):
        change_and_fail()
    assert (sent, Event.objects.count()) == ([], 0)


def test_versions_are_counted_per_subject_unless_given(sent: list[Event]) -> None:
    """version=None counts 1, 2, 3 per subject; a given version is kept as it is."""
    seqs = [publish(subject, owner=1, payload={}) for subject in (5, 5, 6, 5)]
    versions = [Event.objects.get(seq=seq).version for seq in seqs]
    assert versions == [1, 2, 1, 3]
    assert Event.objects.get(seq=publish(9, owner=1, payload={}, version=41)).version == 41


def test_an_order_update_carries_its_id_and_version_in_the_payload() -> None:
    """For order.update the payload is the frame's `order`: `id` and `version` are set."""
    row = Event.objects.get(seq=publish(12, owner=3, payload={"status": "packed"}))
    assert row.payload == {"status": "packed", "id": 12, "version": 1}
    other = Event.objects.get(seq=publish(12, owner=3, payload={"n": 1}, type="note"))
    assert (other.type, other.payload) == ("note", {"n": 1})


@pytest.mark.parametrize(
    ("arguments", "detail"),
    [
        ({"subject": -1}, "subject"),
        ({"subject": True}, "subject"),
        ({"owner": "1"}, "owner"),
        ({"payload": [1]}, "JSON object"),
        ({"payload": {"x": float("nan")}}, "NaN"),
        ({"type": ""}, "type"),
        ({"version": 0}, "version"),
    ],
)
def test_arguments_that_cannot_be_stored_are_refused(
    arguments: dict[str, Any], detail: str
) -> None:
    """A bad id, payload, type or version is a ValueError before anything is written."""
    call: dict[str, Any] = {"subject": 1, "owner": 1, "payload": {}, **arguments}
    subject = call.pop("subject")
    with pytest.raises(ValueError, match=detail):
        publish(subject, **call)
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("meta", "detail"),
    [
        ({"a": float("nan")}, "NaN"),
        ({"a": float("inf")}, "NaN or infinite"),
        ({"a": "x" * 300}, "256 bytes"),
        ({"a": "\u00e9" * 200}, "256 bytes"),
        ({"a": ["ok", {"b": "nul\x00"}]}, "NUL"),
        ({"k\x00": 1}, "NUL"),
        ({"a": "\ud800"}, "surrogate"),
    ],
)
def test_meta_that_cannot_be_stored_or_sent_is_refused(
    meta: dict[str, object], detail: str
) -> None:
    """meta must be finite, NUL-free, valid Unicode and at most 256 bytes of UTF-8."""
    with pytest.raises(ValueError, match=detail):
        check_meta(meta)


def test_plain_text_and_small_meta_pass() -> None:
    """Ordinary Unicode text and meta pass unchanged."""
    assert check_text("caf\u00e9 \U0001f375") == "caf\u00e9 \U0001f375"
    assert check_meta({"by": "kitchen", "n": 2}) == {"by": "kitchen", "n": 2}


def test_track_publishes_every_save_of_a_model(sent: list[Event]) -> None:
    """One line connects post_save: each save is an event owned by the named field."""
    user_model = get_user_model()
    track(user_model, owner="pk", serialize=lambda u: {"name": u.username}, type="user.saved")
    try:
        user = user_model.objects.create_user("ivy")
        user.first_name = "Ivy"
        user.save()
    finally:
        uid = f"realtime.track.{user_model._meta.label}"
        post_save.disconnect(sender=user_model, dispatch_uid=uid)
    assert [(row.subject, row.owner, row.type, row.version) for row in sent] == [
        (user.pk, user.pk, "user.saved", 1),
        (user.pk, user.pk, "user.saved", 2),
    ]
