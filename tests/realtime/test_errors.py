"""Every HTTP error is JSON saying what was wrong (realtime/errors.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory

from realtime import conf, errors

pytestmark = pytest.mark.django_db


def test_unknown_path_is_a_json_404_naming_it() -> None:
    """A path nothing serves answers 404 with the path in the detail."""
    response = Client().get("/nope/here")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such path: /nope/here"}


def test_a_view_404_keeps_its_own_words() -> None:
    """A 404 raised by a view with a message answers that message."""
    response = Client().get("/board/missing.js")
    assert (response.status_code, response.json()) == (404, {"detail": "no such board file"})


def test_plain_http_to_the_websocket_endpoint_is_426() -> None:
    """GET /ws/orders/ without the upgrade says it is a WebSocket endpoint."""
    response = Client().get("/ws/orders/")
    assert response.status_code == 426
    assert response["Upgrade"] == "websocket"
    assert "WebSocket endpoint" in response.json()["detail"]


def test_wrong_method_is_a_json_405_with_allow() -> None:
    """A method the API does not serve answers JSON 405 and keeps the Allow header."""
    response = Client().delete("/api/orders/")
    assert (response.status_code, response.json()) == (405, {"detail": "method not allowed"})


def logged_during(action: Callable[[], object]) -> list[str]:
    """The websocket.log lines `action` wrote."""
    log = Path(conf.settings.LOG_DIR) / "websocket.log"
    before = log.stat().st_size if log.exists() else 0
    action()
    with log.open(encoding="utf-8") as lines:
        lines.seek(before)
        return lines.read().splitlines()


def test_foreign_host_header_is_a_json_400_logged_as_a_warning() -> None:
    """A Host outside ALLOWED_HOSTS is 400 JSON and one WARNING line, not an ERROR traceback."""
    responses: list[Any] = []
    lines = logged_during(
        lambda: responses.append(Client().get("/api/orders/", HTTP_HOST="evil.example"))
    )
    assert responses[0].status_code == 400
    assert responses[0].json() == {"detail": "Host header is not one of ALLOWED_HOSTS"}
    [line] = lines
    assert " WARNING django.security.DisallowedHost Invalid HTTP_HOST header" in line


def test_oversized_body_is_a_json_413() -> None:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 and one WARNING line."""
    body = '{"username": "' + "x" * 300_000 + '", "password": "p"}'
    responses: list[Any] = []
    lines = logged_during(
        lambda: responses.append(
            Client().post("/api/token/", body, content_type="application/json")
        )
    )
    assert responses[0].status_code == 413
    assert responses[0].json() == {"detail": "request body larger than 262144 bytes"}
    [line] = lines
    assert " WARNING django.security.RequestDataTooBig " in line


def test_server_error_view_is_json() -> None:
    """The 500 handler answers JSON without internals."""
    response = errors.server_error(RequestFactory().get("/"))
    assert (response.status_code, response.content) == (500, b'{"detail": "server error"}')
