"""What an ASGI scope says of who is connecting (realtime/auth/scope.py)."""

from __future__ import annotations

from typing import Any

from realtime.auth.scope import client_address, origin_allowed, token_from_scope, with_bearer

HOSTS = ["localhost", "127.0.0.1", "[::1]"]


def scope(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"query_string": query, "headers": headers or []}


def test_token_from_query_or_bearer_header() -> None:
    """The query token wins; otherwise Authorization: Bearer; otherwise empty."""
    assert token_from_scope(scope(b"token=abc&since=3")) == "abc"
    assert token_from_scope(scope(headers=[(b"authorization", b"Bearer xyz")])) == "xyz"
    assert token_from_scope(scope(headers=[(b"authorization", b"Basic xyz")])) == ""
    assert token_from_scope(scope()) == ""


def test_origin_must_be_an_allowed_host() -> None:
    """No Origin passes; a browser Origin must name one of ALLOWED_HOSTS."""
    assert origin_allowed(scope(), HOSTS)
    assert origin_allowed(scope(headers=[(b"origin", b"http://localhost:8000")]), HOSTS)
    assert origin_allowed(scope(headers=[(b"origin", b"http://[::1]:8000")]), HOSTS)
    assert not origin_allowed(scope(headers=[(b"origin", b"https://evil.example")]), HOSTS)
    assert not origin_allowed(scope(headers=[(b"origin", b"null")]), HOSTS)


def test_with_bearer_replaces_the_token_wherever_it_came_from() -> None:
    """An `auth` frame's token stands in for the connect's: header set, query token gone."""
    original = scope(b"token=old&since=3", [(b"authorization", b"Bearer older")])
    renewed = with_bearer(original, "new")
    assert token_from_scope(renewed) == "new"
    assert b"since=3" in renewed["query_string"]
    assert token_from_scope(original) == "old"


def test_a_forwarded_address_counts_only_through_a_trusted_proxy() -> None:
    """The peer, unless it is a trusted proxy: then the nearest untrusted forwarded hop."""
    trusted = "10.0.0.0/8, 127.0.0.1"
    assert client_address("203.0.113.9", "198.51.100.1", trusted) == "203.0.113.9"
    assert client_address("127.0.0.1", "198.51.100.1", trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", None, trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", "198.51.100.1", "") == "127.0.0.1"
