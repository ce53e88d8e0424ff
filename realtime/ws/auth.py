"""Who is connecting: token from the query string or the Authorization header,
and whether the browser Origin is one of ours."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.http.request import validate_host


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


class ActiveUsers:
    """Remembers for `ttl` seconds that a user was found active, so a reconnect
    storm costs one database lookup per user instead of one per connection. A
    user deactivated meanwhile can still connect within that window."""

    def __init__(self, ttl: float = 5.0, size: int = 100_000) -> None:
        self.ttl = ttl
        self.size = size
        self._until: dict[int, float] = {}
        self._pending: dict[int, asyncio.Future[bool]] = {}

    async def check(self, user_id: int, lookup: Callable[[int], Awaitable[bool]]) -> bool:
        """Whether the user is active: remembered, or looked up once for every
        connection asking meanwhile (a storm's first thousand connects would
        otherwise each miss the cache and queue a query of their own)."""
        if self.known(user_id, time.monotonic()):
            return True
        pending = self._pending.get(user_id)
        if pending is None:
            pending = asyncio.ensure_future(lookup(user_id))
            self._pending[user_id] = pending
            pending.add_done_callback(lambda _: self._pending.pop(user_id, None))
        # Shielded: one asker going away must not cancel the others' answer.
        active = await asyncio.shield(pending)
        if active:
            self.remember(user_id, time.monotonic())
        return active

    def known(self, user_id: int, now: float) -> bool:
        return self._until.get(user_id, 0.0) > now

    def remember(self, user_id: int, now: float) -> None:
        if len(self._until) >= self.size:
            self._until = {k: v for k, v in self._until.items() if v > now}
            if len(self._until) >= self.size:
                self._until.clear()
        self._until[user_id] = now + self.ttl
