from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from realtime.auth.tokens import token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def users() -> dict[str, Any]:
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", password="pw-alice"),
        "bob": model.objects.create_user("bob", password="pw-bob"),
        "staff": model.objects.create_user("staff", password="pw-staff", is_staff=True),
    }


def auth(user: Any) -> dict[str, str]:
    token = token_for(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client: Client, path: str, body: object, user: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", **auth(user))


def patch(client: Client, path: str, body: object, user: Any) -> Any:
    return client.patch(path, json.dumps(body), content_type="application/json", **auth(user))


def test_token_endpoint_issues_a_token_for_good_credentials(users: dict[str, Any]) -> None:
    """POST /api/token/ returns a token for the right password and 401 otherwise."""
    client = Client()
    ok = client.post(
        "/api/token/",
        {"username": "alice", "password": "pw-alice"},
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["user"] == "alice"
    bad = client.post(
        "/api/token/", {"username": "alice", "password": "nope"}, content_type="application/json"
    )
    assert bad.status_code == 401
    assert bad.json()["detail"] == "wrong username or password"


def test_requests_without_a_valid_token_get_401_with_a_body(users: dict[str, Any]) -> None:
    """A missing or bad bearer token is a 401 with a JSON detail."""
    client = Client()
    assert client.get("/api/orders/").status_code == 401
    response = client.get("/api/orders/", HTTP_AUTHORIZATION="Bearer nonsense")
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


def test_owners_see_their_orders_and_staff_see_all(users: dict[str, Any]) -> None:
    """List and get are filtered by owner; staff see every order."""
    client = Client()
    mine = post(client, "/api/orders/", {"items": [{"name": "tea", "qty": 1}]}, users["alice"])
    assert mine.status_code == 201
    assert mine.json()["status"] == "pending"
    order_id = mine.json()["id"]
    post(client, "/api/orders/", {"items": [{"name": "cake", "qty": 2}]}, users["bob"])
    assert [o["owner"] for o in client.get("/api/orders/", **auth(users["alice"])).json()] == [
        "alice"
    ]
    assert len(client.get("/api/orders/", **auth(users["staff"])).json()) == 2
    assert client.get(f"/api/orders/{order_id}/", **auth(users["bob"])).status_code == 404
    assert client.get(f"/api/orders/{order_id}/", **auth(users["staff"])).status_code == 200


def test_status_changes_follow_the_state_machine(users: dict[str, Any]) -> None:
    """PATCH moves forward one step; a bad transition is 409; customers may only cancel."""
    client = Client()
    order_id = post(client, "/api/orders/", {"items": [{"name": "tea", "qty": 1}]}, users["alice"])
    path = f"/api/orders/{order_id.json()['id']}/"
    refused = patch(client, path, {"status": "ready"}, users["staff"])
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "cannot change status from 'pending' to 'ready'; "
        "allowed next: confirmed, cancelled",
        "current": "pending",
        "allowed": ["confirmed", "cancelled"],
    }
    assert patch(client, path, {"status": "confirmed"}, users["alice"]).status_code == 403
    confirmed = patch(client, path, {"status": "confirmed", "meta": {"k": 1}}, users["staff"])
    assert confirmed.status_code == 200
    assert confirmed.json()["version"] == 2
    assert patch(client, path, {"status": "cancelled"}, users["alice"]).status_code == 200
    final = patch(client, path, {"status": "cancelled"}, users["staff"])
    assert final.status_code == 409
    assert final.json()["allowed"] == []
    assert final.json()["detail"].endswith("allowed next: none, the order is final")


def test_the_schema_lists_statuses_as_an_enum() -> None:
    """OpenAPI names the six statuses wherever a status goes in or out."""
    schemas = Client().get("/api/openapi.json").json()["components"]["schemas"]
    statuses = ["pending", "confirmed", "preparing", "ready", "delivered", "cancelled"]
    assert schemas["Status"]["enum"] == statuses
    for name in ("OrderPatch", "OrderOut", "Refused"):
        assert "Status" in str(
            schemas[name]["properties"]["status" if name != "Refused" else "current"]
        )


def test_bad_bodies_get_4xx_with_a_message(users: dict[str, Any]) -> None:
    """Invalid items, oversized meta and foreign owners are refused with a JSON detail."""
    client = Client()
    empty = post(client, "/api/orders/", {"items": []}, users["alice"])
    assert empty.status_code == 422
    huge_meta = post(
        client,
        "/api/orders/",
        {"items": [{"name": "x", "qty": 1}], "meta": {"a": "x" * 300}},
        users["alice"],
    )
    assert huge_meta.status_code == 422
    assert "256 bytes" in huge_meta.json()["detail"]
    foreign = post(
        client, "/api/orders/", {"items": [{"name": "x", "qty": 1}], "owner": "bob"}, users["alice"]
    )
    assert foreign.status_code == 403
    for_bob = post(
        client, "/api/orders/", {"items": [{"name": "x", "qty": 1}], "owner": "bob"}, users["staff"]
    )
    assert for_bob.status_code == 201
    assert for_bob.json()["owner"] == "bob"


def test_events_replay_over_http_is_filtered_and_ordered(users: dict[str, Any]) -> None:
    """GET /api/events/?since= returns the caller's events in seq order with a cursor."""
    client = Client()
    a = post(client, "/api/orders/", {"items": [{"name": "tea", "qty": 1}]}, users["alice"]).json()
    post(client, "/api/orders/", {"items": [{"name": "cake", "qty": 1}]}, users["bob"])
    patch(client, f"/api/orders/{a['id']}/", {"status": "confirmed"}, users["staff"])
    alice = client.get("/api/events/?since=0", **auth(users["alice"])).json()
    assert [e["order"]["version"] for e in alice["events"]] == [1, 2]
    assert alice["cursor"] == 3
    staff = client.get("/api/events/?since=1&limit=1", **auth(users["staff"])).json()
    assert [e["seq"] for e in staff["events"]] == [2]
    assert staff["more"] is True


def test_openapi_schema_is_published() -> None:
    """The API publishes an OpenAPI schema."""
    schema = Client().get("/api/openapi.json").json()
    assert "/api/orders/{order_id}/" in schema["paths"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('{"items": [{"name": "tea", "qty": 1}], "meta": {"a": NaN}}', "NaN"),
        ('{"items": [{"name": "tea", "qty": 1}], "meta": {"a": 1e400}}', "NaN or infinite"),
        ('{"items": [{"name": "te\\u0000a", "qty": 1}]}', "NUL"),
        ('{"items": [{"name": "tea", "qty": 1}], "meta": {"a": "\\ud800"}}', "surrogate"),
        ('{"items": [{"name": "tea", "qty": 1}], "meta": {"\\u0000": 1}}', "NUL"),
        ('{"items": [{"name": "tea", "qty": 1}], "owner": "b\\u0000b"}', "NUL"),
    ],
)
def test_text_no_database_or_client_can_hold_is_refused(
    users: dict[str, Any], body: str, detail: str
) -> None:
    """NaN, infinities, NUL and lone surrogates get 422 instead of a 500 or a poisoned event."""
    response = Client().post(
        "/api/orders/", body, content_type="application/json", **auth(users["staff"])
    )
    assert response.status_code == 422
    assert detail in json.dumps(response.json())


def test_ids_and_seqs_past_64_bits_are_422_not_500(users: dict[str, Any]) -> None:
    """Numbers no database column holds are refused as invalid requests."""
    client = Client()
    huge = 2**64
    for path in (
        f"/api/orders/{huge}/",
        f"/api/events/?since={huge}",
        f"/api/orders/?after_id={huge}",
    ):
        assert client.get(path, **auth(users["alice"])).status_code == 422


def test_events_since_ahead_of_the_head_is_409(users: dict[str, Any]) -> None:
    """A cursor past the latest seq is refused, since it would skip the events to come."""
    response = Client().get("/api/events/?since=50", **auth(users["alice"]))
    assert response.status_code == 409
    assert response.json() == {"detail": "since 50 is ahead of the latest seq 0"}


def login(client: Client, username: str, password: str) -> Any:
    body = {"username": username, "password": password}
    return client.post("/api/token/", body, content_type="application/json")


def test_refresh_returns_a_fresh_token_for_an_active_user(users: dict[str, Any]) -> None:
    """POST /api/token/refresh/ answers a new token; a deactivated user gets 401."""
    client = Client()
    refreshed = client.post("/api/token/refresh/", **auth(users["alice"]))
    assert refreshed.status_code == 200
    assert refreshed.json()["user"] == "alice"
    fresh = {"HTTP_AUTHORIZATION": f"Bearer {refreshed.json()['token']}"}
    assert client.get("/api/orders/", **fresh).status_code == 200
    users["bob"].is_active = False
    users["bob"].save()
    assert client.post("/api/token/refresh/", **auth(users["bob"])).status_code == 401


def test_staff_comes_from_the_database_not_the_token(users: dict[str, Any]) -> None:
    """A token that still says staff gets customer rights once the user is demoted."""
    staff = users["staff"]
    token = {"HTTP_AUTHORIZATION": f"Bearer {token_for(staff)}"}
    staff.is_staff = False
    staff.save()
    mine = post(Client(), "/api/orders/", {"items": [{"name": "tea", "qty": 1}]}, users["alice"])
    answer = Client().patch(
        f"/api/orders/{mine.json()['id']}/",
        json.dumps({"status": "confirmed"}),
        content_type="application/json",
        **token,
    )
    assert answer.status_code == 404


def test_order_creation_is_rate_limited_per_customer(
    users: dict[str, Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the burst a customer gets 429 with Retry-After; another customer and staff do not."""
    from realtime.orders import api

    monkeypatch.setattr(api, "ORDER_RATE", api.OrderRate(rate=0.5, burst=3))
    client, body = Client(), {"items": [{"name": "tea", "qty": 1}]}
    answers = [post(client, "/api/orders/", body, users["alice"]).status_code for _ in range(4)]
    assert answers == [201, 201, 201, 429]
    refused = post(client, "/api/orders/", body, users["alice"])
    assert refused["Retry-After"] == "2"
    assert "new orders per second" in refused.json()["detail"]
    assert post(client, "/api/orders/", body, users["bob"]).status_code == 201
    assert post(client, "/api/orders/", body, users["staff"]).status_code == 201


def test_password_guessing_is_locked_out_without_naming_users(
    users: dict[str, Any], settings: Any
) -> None:
    """At the failure limit: 429 with Retry-After, the same for a real and an unknown name."""
    client, limit = Client(), settings.LOGIN_FAILURE_LIMIT
    for name in ("alice", "nobody"):
        failures = [login(client, name, "guess").status_code for _ in range(limit - 1)]
        assert failures == [401] * (limit - 1)
        locked = login(client, name, "guess")
        assert locked.status_code == 429
        assert locked["Retry-After"] == str(settings.LOGIN_LOCKOUT)
        assert locked.json() == {"detail": "too many failed sign-ins: try again later"}
    # The right password does not get through a lockout either.
    assert login(client, "alice", "pw-alice").status_code == 429
    assert login(client, "bob", "pw-bob").status_code == 200


def test_a_database_outage_is_503_with_retry_after(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A view whose query fails answers 503 with Retry-After and logs a WARNING, not an ERROR."""
    from django.db import OperationalError

    from realtime.orders import api

    def away(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(api, "visible_orders", away)
    answer = Client().get("/api/orders/", **auth(users["alice"]))
    assert answer.status_code == 503
    assert answer.json() == {"detail": "database unavailable"}
    assert answer["Retry-After"] == "5"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("database unavailable" in r.getMessage() for r in caplog.records)


def test_a_patch_on_an_order_not_yours_is_404_whatever_the_status(users: dict[str, Any]) -> None:
    """Bob cancelling or confirming Alice's order gets 404; her own confirm is 403; staff 200."""
    client = Client()
    created = post(client, "/api/orders/", {"items": [{"name": "tea", "qty": 1}]}, users["alice"])
    url = f"/api/orders/{created.json()['id']}/"
    codes = [
        patch(client, url, {"status": status}, users[who]).status_code
        for who, status in (
            ("bob", "cancelled"),
            ("bob", "confirmed"),
            ("alice", "confirmed"),
            ("staff", "confirmed"),
            ("alice", "cancelled"),
        )
    ]
    assert codes == [404, 404, 403, 200, 200]


def test_a_body_that_is_not_json_is_a_400_that_says_json_is_expected() -> None:
    """A form-encoded sign-in names the Content-Type it sent; broken JSON says where."""
    client = Client()
    form = client.post(
        "/api/token/", "username=alice&password=x", content_type="application/x-www-form-urlencoded"
    )
    assert form.status_code == 400
    assert form.json()["detail"] == (
        "the request body must be JSON, sent with Content-Type: application/json "
        "(this one was application/x-www-form-urlencoded)"
    )
    broken = client.post("/api/token/", "{nope", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["detail"].startswith("the request body must be JSON")
    assert "line 1 column 2" in broken.json()["detail"]
