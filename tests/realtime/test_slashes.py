"""API paths answer with or without their trailing slash, never with an empty 301."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from realtime.auth.tokens import token_for

pytestmark = pytest.mark.django_db


def test_an_order_is_patched_and_read_without_the_trailing_slash() -> None:
    """PATCH and GET /api/orders/<id> (no slash) behave as with the slash."""
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(staff)}"}
    client = Client()
    body = json.dumps({"items": [{"name": "tea", "qty": 1}]})
    created = client.post("/api/orders", body, content_type="application/json", **headers)
    assert created.status_code == 201
    path = f"/api/orders/{created.json()['id']}"
    patched = client.patch(
        path, json.dumps({"status": "confirmed"}), content_type="application/json", **headers
    )
    assert (patched.status_code, patched.json()["status"]) == (200, "confirmed")
    assert client.get(path, **headers).json()["version"] == 2


def test_paths_that_resolve_as_they_are_or_not_at_all_are_left_alone() -> None:
    """The OpenAPI schema keeps its own path; an unknown one is still a JSON 404."""
    client = Client()
    assert client.get("/api/openapi.json").status_code == 200
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert "detail" in missing.json()


@pytest.mark.parametrize("path", ["/health/ready/", "/health/live/", "/metrics/", "/api/docs/"])
def test_a_trailing_slash_too_many_is_forgiven(path: str) -> None:
    """The health checks, the metrics and the API docs answer with a slash added."""
    assert Client().get(path).status_code == 200


def test_the_api_root_points_to_the_docs() -> None:
    """GET /api/ is a JSON 404 that names /api/docs and the schema."""
    for path in ("/api/", "/api"):
        answer = Client().get(path)
        assert answer.status_code == 404
        assert answer.json()["docs"] == "/api/docs"
        assert "/api/docs" in answer.json()["detail"]
