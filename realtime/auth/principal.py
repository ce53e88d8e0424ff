"""Who a connection speaks for (docs/integrate.md, "Login")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """A user the server may stream to: their id (the `mine` scope), the name
    on their log lines, whether they are staff (the `all` scope), and when
    their credential expires (epoch seconds; None for never): the connection
    closes with 4401 then, as it does once the user's `credential` (a
    password change, a sign-out everywhere) is no longer theirs.
    `signed_in_at` is when the session behind a token began."""

    user_id: int
    username: str
    staff: bool
    expires_at: float | None = None
    credential: str | None = None
    signed_in_at: float | None = None


class AuthenticationFailed(Exception):
    """A credential that is missing, invalid or expired: 4401 (HTTP 401) with
    this exception's message as the reason. Any other exception from an
    authenticator stands for a backing service that is away: retry."""
