"""The default rule for `order:<id>` (realtime/events/visibility.py)."""

from __future__ import annotations

import pytest

from realtime.auth.principal import Principal
from realtime.events.publishing import publish
from realtime.events.visibility import subject_visible

pytestmark = pytest.mark.django_db


def test_staff_see_any_subject_and_others_only_those_whose_newest_event_they_own() -> None:
    """The newest event decides, so a subject handed to another owner follows them."""
    publish(7, owner=1, payload={})
    publish(7, owner=2, payload={})
    assert subject_visible(7, Principal(2, "new", False))
    assert not subject_visible(7, Principal(1, "old", False))
    assert subject_visible(7, Principal(3, "staff", True))
    assert not subject_visible(8, Principal(2, "new", False))
