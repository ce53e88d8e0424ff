"""Tokens (realtime/auth/tokens.py): a signature is checked once per token,
but what its claims allow, its lifetime above all, on every use."""

from __future__ import annotations

import time

import jwt
import pytest

from realtime.auth import tokens
from realtime.auth.tokens import TokenError, issue_token, verify_token


def test_a_token_checked_before_is_refused_once_its_lifetime_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The remembered signature check does not extend a token's life."""
    token = issue_token(7, "alice", False, ttl=60, credential="c")
    assert verify_token(token).user_id == 7
    later = time.time() + 61
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    with pytest.raises(TokenError, match="token expired"):
        verify_token(token)


def test_a_forged_token_is_refused_every_time() -> None:
    """A bad signature is not remembered as good, however often it is sent."""
    claims = {"sub": "7", "iat": 1, "exp": int(time.time()) + 60, "auth_time": 1, "cv": "c"}
    forged = jwt.encode(claims, "not-the-servers-key-0123456789abcdef", algorithm="HS256")
    for _ in range(2):
        with pytest.raises(TokenError, match="invalid token"):
            verify_token(forged)


def test_a_tokens_signature_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three uses of one token decode it once."""
    token = issue_token(8, "bob", False, ttl=60, credential="c")
    decoded: list[str] = []
    decode = jwt.decode

    def counted(*args: object, **kwargs: object) -> object:
        decoded.append(str(args[0]))
        return decode(*args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counted)
    for _ in range(3):
        assert verify_token(token).username == "bob"
    assert decoded == [token]
