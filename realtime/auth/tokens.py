"""HS256 access tokens with claims `sub`, `name`, `staff`, `iat`, `exp`
(docs/protocol.md). No token lives longer than TOKEN_MAX_TTL, whatever its
`exp` says; `staff` is a hint for clients, the server reads it from the
database."""

from __future__ import annotations

import time

import jwt
from django.conf import settings

from realtime import conf
from realtime.auth.principal import Principal

ALGORITHM = "HS256"


class TokenError(Exception):
    """A token that is missing, malformed, badly signed or expired."""


def issue_token(user_id: int, username: str, staff: bool, ttl: int | None = None) -> str:
    now = int(time.time())
    lifetime = min(conf.settings.TOKEN_TTL if ttl is None else ttl, conf.settings.TOKEN_MAX_TTL)
    claims = {"sub": str(user_id), "name": username, "staff": staff, "iat": now}
    claims["exp"] = now + lifetime
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def verify_token(token: str) -> Principal:
    if not token:
        raise TokenError("missing token")
    try:
        claims = jwt.decode(
            token,
            settings.SECRET_KEY,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid token") from exc
    try:
        user_id = int(claims["sub"])
        expires_at = min(float(claims["exp"]), float(claims["iat"]) + conf.settings.TOKEN_MAX_TTL)
    except (TypeError, ValueError) as exc:
        raise TokenError("invalid token claims") from exc
    if expires_at <= time.time():
        raise TokenError("token expired")
    return Principal(
        user_id=user_id,
        username=str(claims.get("name", user_id)),
        staff=claims.get("staff") is True,
        expires_at=expires_at,
    )
