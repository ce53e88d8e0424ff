"""HS256 access tokens with claims `sub`, `name`, `staff`, `iat`, `exp`,
`auth_time` (when the user signed in) and `cv` (their credential then)
(docs/protocol.md). No token lives longer than TOKEN_MAX_TTL, whatever its
`exp` says, nor past SESSION_MAX_AGE after the sign-in it descends from,
however often it was refreshed; one whose `cv` is no longer the user's (a
password change, a sign-out everywhere) is refused. `staff` is a hint for
clients, the server reads it from the database."""

from __future__ import annotations

import functools
import time
from typing import Any

import jwt
from django.conf import settings

from realtime import conf
from realtime.auth.principal import Principal

ALGORITHM = "HS256"
# Tokens whose signature was checked, the most recently used kept.
DECODED_TOKENS = 10_000


class TokenError(Exception):
    """A token that is missing, malformed, badly signed or expired."""


def issue_token(
    user_id: int,
    username: str,
    staff: bool,
    ttl: int | None = None,
    *,
    credential: str,
    signed_in_at: int | None = None,
) -> str:
    """A token for a sign-in at `signed_in_at` (now, for a new one)."""
    now = int(time.time())
    signed_in = now if signed_in_at is None else int(signed_in_at)
    lifetime = min(conf.settings.TOKEN_TTL if ttl is None else ttl, conf.settings.TOKEN_MAX_TTL)
    claims = {
        "sub": str(user_id),
        "name": username,
        "staff": staff,
        "iat": now,
        "exp": min(now + lifetime, signed_in + conf.settings.SESSION_MAX_AGE),
        "auth_time": signed_in,
        "cv": credential,
    }
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def token_for(user: Any, ttl: int | None = None) -> str:
    """A token for a fresh sign-in of `user`, with their credential now."""
    from realtime.auth.standings import standing

    return issue_token(
        int(user.pk),
        user.get_username(),
        bool(getattr(user, "is_staff", False)),
        ttl,
        credential=standing(int(user.pk)).credential,
    )


@functools.lru_cache(maxsize=DECODED_TOKENS)
def _decoded(token: str, secret: str) -> dict[str, Any]:
    """A client sends its token with every request and every connect: its
    signature is checked once. What the claims allow is decided on every use."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        options={"require": ["sub", "exp", "iat", "auth_time", "cv"]},
    )
    return claims


def verify_token(token: str) -> Principal:
    if not token:
        raise TokenError("missing token")
    try:
        claims = _decoded(token, settings.SECRET_KEY)
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid token") from exc
    try:
        user_id = int(claims["sub"])
        signed_in = float(claims["auth_time"])
        expires_at = min(
            float(claims["exp"]),
            float(claims["iat"]) + conf.settings.TOKEN_MAX_TTL,
            signed_in + conf.settings.SESSION_MAX_AGE,
        )
        credential = str(claims["cv"])
    except (TypeError, ValueError) as exc:
        raise TokenError("invalid token claims") from exc
    if expires_at <= time.time():
        if signed_in + conf.settings.SESSION_MAX_AGE <= time.time():
            raise TokenError("session expired: sign in again")
        raise TokenError("token expired")
    return Principal(
        user_id=user_id,
        username=str(claims.get("name", user_id)),
        staff=claims.get("staff") is True,
        expires_at=expires_at,
        credential=credential,
        signed_in_at=signed_in,
    )
