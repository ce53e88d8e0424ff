"""The sign-in throttles before any password is hashed (realtime/orders/signin.py)."""

from __future__ import annotations

import threading

import pytest
from django.test import Client, RequestFactory

from realtime.orders import api, signin

pytestmark = pytest.mark.django_db


def test_an_address_is_refused_after_its_limit_of_failures() -> None:
    """LOGIN_ADDRESS_LIMIT failures from one address, across usernames, refuse it; not others."""
    request = RequestFactory().post("/api/token/", REMOTE_ADDR="198.51.100.1")
    other = RequestFactory().post("/api/token/", REMOTE_ADDR="198.51.100.2")
    for _ in range(20):
        assert not signin.address_refused(request)
        signin.count_failure(request)
    assert signin.address_refused(request)
    assert not signin.address_refused(other)


def test_a_refused_address_is_answered_without_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once refused, `POST /api/token/` answers 429 without calling authenticate()."""
    request = RequestFactory().post("/api/token/", REMOTE_ADDR="127.0.0.1")
    for _ in range(20):
        signin.count_failure(request)

    def hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a password was hashed")

    monkeypatch.setattr(api, "authenticate", hashing)
    reply = Client().post(
        "/api/token/", {"username": "x", "password": "y"}, content_type="application/json"
    )
    assert reply.status_code == 429
    assert reply.headers["Retry-After"]


def test_passwords_are_hashed_a_few_at_a_time() -> None:
    """Past SIGN_IN_CONCURRENCY turns held at once, the next waits and then gives up."""
    release = threading.Event()
    held = threading.Barrier(3)

    def hold() -> None:
        with signin.hashing_turn() as turn:
            assert turn
            held.wait(5)
            release.wait(5)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for thread in holders:
        thread.start()
    held.wait(5)
    signin.WAIT_FOR_A_TURN, before = 0.05, signin.WAIT_FOR_A_TURN
    try:
        with signin.hashing_turn() as turn:
            assert turn is False
    finally:
        signin.WAIT_FOR_A_TURN = before
        release.set()
        for thread in holders:
            thread.join(5)
