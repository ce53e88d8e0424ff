from __future__ import annotations

import logging
from typing import Any

import pytest

from realtime.observability.http import HttpObserver

Message = dict[str, Any]


async def test_client_leaving_before_the_response_is_logged_as_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A disconnect before the response completes is one INFO line with status 499."""

    async def app(scope: Message, receive: Any, send: Any) -> None:
        await receive()

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing should be sent")

    with caplog.at_level(logging.INFO, logger="realtime.http"):
        await HttpObserver(app)({"type": "http", "method": "GET", "path": "/x"}, receive, send)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.fields["status"] == 499  # type: ignore[attr-defined]
    assert record.exc_info is None


async def test_responses_carry_x_response_time_and_are_logged_without_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every response gets X-Response-Time; the access line has the path, not the query."""
    sent: list[Message] = []

    async def app(scope: Message, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/", "query_string": b"token=secret"}
    with caplog.at_level(logging.INFO, logger="realtime.http"):
        await HttpObserver(app)(scope, receive, send)
    [record] = caplog.records
    assert record.fields["path"] == "/api/"  # type: ignore[attr-defined]
    assert record.fields["status"] == 204  # type: ignore[attr-defined]
    assert "secret" not in str(record.fields)  # type: ignore[attr-defined]
    names = [name for name, _ in sent[0]["headers"]]
    assert b"x-response-time" in names
