"""Readiness says "draining" once the server has begun its SIGTERM drain."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from realtime.delivery.hub import get_hub
from realtime.observability import health

pytestmark = pytest.mark.timeout(30)


async def test_a_draining_server_is_not_ready() -> None:
    """/health/ready answers 503 "draining" while the hub drains, before any other check."""
    hub = get_hub()
    hub.draining = True
    try:
        response = await health.ready(RequestFactory().get("/health/ready"))
    finally:
        hub.draining = False
    assert response.status_code == 503
    assert json.loads(response.content)["status"] == "draining"
