"""One URL names a server's WebSocket, stream and API (realtime/client/endpoints.py)."""

from __future__ import annotations

import pytest

from realtime.client.endpoints import Endpoints


@pytest.mark.parametrize(
    "url",
    [
        "ws://h:8/ws/orders/",
        "ws://h:8/ws/orders",
        "http://h:8",
        "http://h:8/",
        "http://h:8/sse/orders/",
    ],
)
def test_any_of_the_urls_names_all_three(url: str) -> None:
    """ws(s) and http(s), with or without the endpoint's path."""
    assert Endpoints.of(url) == Endpoints(
        "ws://h:8/ws/orders/", "http://h:8/sse/orders/", "http://h:8"
    )


def test_tls_and_a_prefix_are_kept() -> None:
    """wss pairs with https, and a path before the endpoint stays on all three."""
    assert Endpoints.of("wss://h/app/ws/orders/") == Endpoints(
        "wss://h/app/ws/orders/", "https://h/app/sse/orders/", "https://h/app"
    )


@pytest.mark.parametrize(
    "url", ["h:8/ws/orders/", "ftp://h/", "http:///x", "ws://h:99999/", "ws://h:port/"]
)
def test_anything_else_is_refused_with_what_to_give(url: str) -> None:
    """A URL that names no server says what would."""
    with pytest.raises(ValueError, match="ws://HOST:PORT"):
        Endpoints.of(url)
