"""Who is connecting: token from the query string or the Authorization header,
and whether the browser Origin is one of ours."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.http.request import validate_host

from realtime.orders.standings import RememberedStandings, Standing


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    decoded = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    return {k: v[-1] for k, v in parse_qs(decoded, keep_blank_values=True).items()}


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def token_from_scope(scope: dict[str, Any]) -> str:
    """The query `token` wins; `Authorization: Bearer` serves non-browser clients."""
    token = query_params(scope).get("token", "")
    if token:
        return token
    authorization = header(scope, b"authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return ""


def origin_allowed(scope: dict[str, Any], allowed_hosts: list[str]) -> bool:
    """No Origin (a script) is allowed; a browser's must name one of ALLOWED_HOSTS."""
    origin = header(scope, b"origin")
    if origin is None:
        return True
    host = urlsplit(origin).hostname
    if not host:
        return False
    if ":" in host:
        host = f"[{host}]"
    return validate_host(host, allowed_hosts)


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
