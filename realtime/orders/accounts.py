"""Users and tokens for scripts, tests and the demo."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from realtime.auth.standings import standings
from realtime.auth.tokens import issue_token
from realtime.auth.tokens import token_for as token_of
from realtime.orders import service

DEMO_PASSWORD = "demo-password"
DEMO_USERS = (("alice", False), ("bob", False), ("kitchen", True))


class Refusal(Exception):
    """What `realtime token` will not do, said in one line."""


def token_for(
    username: str,
    *,
    staff: bool = False,
    create: bool = False,
    promote: bool = False,
    ttl: int | None = None,
) -> tuple[str, bool]:
    """A token for `username`, and whether the user was created for it."""
    users = get_user_model().objects
    user = users.filter(username=username).first()
    created = user is None
    if user is None:
        if not create:
            raise Refusal(f"no such user: {username} (add --create to create it)")
        user = users.create_user(username=username, is_staff=staff)
    elif staff and not user.is_staff:
        if not promote:
            raise Refusal(
                f"{username} exists and is not staff: add --promote to make them staff "
                "for good, or leave out --staff"
            )
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return token_of(user, ttl), created


def seed_demo(ttl: int | None = None) -> dict[str, str]:
    """Demo users with a known password and a few orders; returns their tokens."""
    users = get_user_model().objects
    tokens = {}
    for username, staff in DEMO_USERS:
        user = users.filter(username=username).first()
        if user is None:
            user = users.create_user(username=username, password=DEMO_PASSWORD, is_staff=staff)
            if not staff:
                service.create_order(user, [{"name": "flat white", "qty": 1}])
                service.create_order(user, [{"name": "croissant", "qty": 2}])
        tokens[username] = token_of(user, ttl)
    return tokens


def seed_customers(count: int, ttl: int | None = None) -> dict[str, str]:
    """`count` customers, customer001 and on, signing in by token only (no
    password), for load tests that need a user per connection; returns
    their tokens."""
    users = get_user_model().objects
    names = [f"customer{number:03d}" for number in range(1, count + 1)]
    existing = set(users.filter(username__in=names).values_list("username", flat=True))
    fresh = []
    for name in names:
        if name not in existing:
            user = get_user_model()(username=name)
            user.set_unusable_password()
            fresh.append(user)
    users.bulk_create(fresh)
    found = list(users.filter(username__in=names).values_list("pk", "username", "is_staff"))
    now = standings(pk for pk, _, _ in found)
    return {
        name: issue_token(pk, name, bool(staff), ttl, credential=now[pk].credential)
        for pk, name, staff in found
    }
