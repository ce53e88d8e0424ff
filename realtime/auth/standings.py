"""Whether a user is active and staff, and which credential they hold now,
read from the database, not from their token, and remembered for at most
AUTH_RECHECK_INTERVAL (docs/guarantees.md).

The credential is a digest of the user's password hash and of their
sign-out count: a password change or a "sign out everywhere" (and a
deactivation, which counts as one) changes it, and every token and
connection that carries the old one ends."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Subquery
from django.utils.crypto import salted_hmac


class Standing(NamedTuple):
    """What the database says of a user now, whatever their token says."""

    active: bool
    staff: bool
    credential: str = ""


GONE = Standing(active=False, staff=False)
# Below every database's limit on bound parameters (SQLite's was 999).
STANDING_BATCH = 500


def credential_of(password: str, signed_out: int) -> str:
    """A digest that changes with the password hash and the sign-out count."""
    digest = salted_hmac("realtime.auth.credential", f"{password}:{signed_out}").hexdigest()
    return digest[:24]


def standings(user_ids: Iterable[int]) -> dict[int, Standing]:
    """Every user's standing, in one query per 500 users; a deleted user is GONE.
    A user model without `is_active` or `is_staff` counts as active, not staff."""
    from realtime.events.models import Credential

    wanted = sorted(set(user_ids))
    found = dict.fromkeys(wanted, GONE)
    model = get_user_model()
    names = {field.name for field in model._meta.get_fields()}
    columns = ["pk", *(name for name in ("is_active", "is_staff", "password") if name in names)]
    signed_out = Credential.objects.filter(user_id=OuterRef("pk")).values("signed_out")[:1]
    for start in range(0, len(wanted), STANDING_BATCH):
        batch = wanted[start : start + STANDING_BATCH]
        rows = model.objects.filter(pk__in=batch).annotate(signed_out=Subquery(signed_out))
        for row in rows.values(*columns, "signed_out"):
            found[row["pk"]] = Standing(
                bool(row.get("is_active", True)),
                bool(row.get("is_staff", False)),
                credential_of(str(row.get("password", "")), row["signed_out"] or 0),
            )
    return found


def standing(user_id: int) -> Standing:
    return standings((user_id,))[user_id]


class RememberedStandings:
    """Standings remembered for `ttl` seconds, for at most `size` users: a
    deactivated or demoted user is noticed within `ttl` (AUTH_RECHECK_INTERVAL)."""

    def __init__(self, ttl: float, size: int = 100_000) -> None:
        self.ttl = ttl
        self.size = size
        self._known: dict[int, tuple[float, Standing]] = {}

    def clear(self) -> None:
        self._known.clear()

    def known(self, user_id: int, now: float) -> Standing | None:
        entry = self._known.get(user_id)
        return entry[1] if entry is not None and entry[0] > now else None

    def remember(self, user_id: int, standing: Standing, now: float) -> None:
        if len(self._known) >= self.size:
            self._known = {k: v for k, v in self._known.items() if v[0] > now}
            if len(self._known) >= self.size:
                self._known.clear()
        self._known[user_id] = (now + self.ttl, standing)


class RecentStandings(RememberedStandings):
    """A standing per user for HTTP requests, which run in threads: each
    request costs no user query while its user's standing is fresh."""

    def __init__(self, ttl: float, size: int = 100_000) -> None:
        super().__init__(ttl, size)
        self._lock = threading.Lock()

    def get(self, user_id: int) -> Standing:
        now = time.monotonic()
        known = self.known(user_id, now)
        if known is not None:
            return known
        found = standing(user_id)
        with self._lock:
            self.remember(user_id, found, now)
        return found

    async def aget(self, user_id: int) -> Standing:
        """`get` from the event loop: a standing not remembered is looked up in a thread."""
        known = self.known(user_id, time.monotonic())
        if known is not None:
            return known
        return await sync_to_async(self.get)(user_id)


class Standings(RememberedStandings):
    """Remembers a user's standing (active, staff) for `ttl` seconds, so a
    reconnect storm costs one database lookup per user instead of one per
    connection, and a deactivated or demoted user is noticed within `ttl`
    (AUTH_RECHECK_INTERVAL)."""

    def __init__(self, ttl: float, size: int = 100_000) -> None:
        super().__init__(ttl, size)
        self._pending: dict[int, asyncio.Future[Standing]] = {}

    async def check(self, user_id: int, lookup: Callable[[int], Awaitable[Standing]]) -> Standing:
        """The user's standing: remembered, or looked up once for every
        connection asking meanwhile (a storm's first thousand connects would
        otherwise each miss the cache and queue a query of their own)."""
        known = self.known(user_id, time.monotonic())
        if known is not None:
            return known
        pending = self._pending.get(user_id)
        if pending is None:
            pending = asyncio.ensure_future(lookup(user_id))
            self._pending[user_id] = pending
            pending.add_done_callback(lambda _: self._pending.pop(user_id, None))
        # Shielded: one asker going away must not cancel the others' answer.
        standing = await asyncio.shield(pending)
        self.remember(user_id, standing, time.monotonic())
        return standing

    async def refresh(
        self,
        user_ids: Iterable[int],
        lookup: Callable[[Iterable[int]], Awaitable[dict[int, Standing]]],
    ) -> dict[int, Standing]:
        """Look every one of `user_ids` up again, in one batch."""
        fresh = await lookup(tuple(user_ids))
        now = time.monotonic()
        for user_id, standing in fresh.items():
            self.remember(user_id, standing, now)
        return fresh
