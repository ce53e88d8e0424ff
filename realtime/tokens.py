"""HS256 access tokens with claims `sub`, `staff`, `exp` (docs/protocol.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from django.conf import settings

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    user_id: int
    username: str
    staff: bool
    expires_at: float


class TokenError(Exception):
    """A token that is missing, malformed, badly signed or expired."""


def issue_token(user_id: int, username: str, staff: bool, ttl: int | None = None) -> str:
    now = int(time.time())
    lifetime = settings.TOKEN_TTL if ttl is None else ttl
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
            options={"require": ["sub", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError("invalid token") from exc
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise TokenError("invalid token subject") from exc
    return Principal(
        user_id=user_id,
        username=str(claims.get("name", user_id)),
        staff=claims.get("staff") is True,
        expires_at=float(claims["exp"]),
    )
