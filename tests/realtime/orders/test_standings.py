"""Users' standings (`realtime/orders/standings.py`): read from the database,
remembered for the recheck interval, bounded in size."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime.orders.standings import RecentStandings, RememberedStandings, Standing

ACTIVE = Standing(active=True, staff=False)


def test_standings_are_remembered_for_the_ttl_only() -> None:
    """A standing is known until the TTL passes, then looked up again."""
    users = RememberedStandings(ttl=5.0)
    assert users.known(1, now=100.0) is None
    users.remember(1, ACTIVE, now=100.0)
    assert users.known(1, now=104.9) == ACTIVE
    assert users.known(1, now=105.1) is None


def test_standings_stay_bounded() -> None:
    """Past its size the cache forgets, so a flood of ids cannot grow it without bound."""
    users = RememberedStandings(ttl=5.0, size=3)
    for user_id in range(10):
        users.remember(user_id, ACTIVE, now=0.0)
    assert len(users._known) <= 3
    assert users.known(9, now=1.0) == ACTIVE


@pytest.mark.django_db
def test_an_http_standing_costs_one_query_while_it_is_fresh() -> None:
    """Three lookups of one user within the TTL make one query; a demotion shows after it."""
    user = get_user_model().objects.create_user("alice", is_staff=True)
    recent = RecentStandings(ttl=60.0)
    with CaptureQueriesContext(connection) as queries:
        answers = [recent.get(user.pk) for _ in range(3)]
    assert answers == [Standing(active=True, staff=True)] * 3
    assert len(queries) == 1
    user.is_staff = False
    user.save()
    assert recent.get(user.pk).staff is True
    recent.clear()
    assert recent.get(user.pk) == Standing(active=True, staff=False)
