"""Sign-in throttles against a real server behind a trusted proxy
(docs/operations.md, "Sign-in throttles"): a guesser locks out only their own
client address, and a password spray is refused before the 21st username."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server
from tests.integration.test_sessions import PASSWORD, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daphne]:
    tmp: Path = tmp_path_factory.mktemp("sign-in")
    with make_server(tmp, "sqlite", "memory", request, TRUSTED_PROXIES="127.0.0.1") as daphne:
        yield daphne


def sign_in(server: Daphne, username: str, password: str, client: str) -> tuple[int, Any]:
    """(status, body) of a sign-in the proxy forwards for `client`."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(f"{server.http}/api/token/", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Forwarded-For", client)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_five_failures_lock_out_only_the_guessers_address(server: Daphne) -> None:
    """Behind the proxy, the guesser's address is locked out; the user, elsewhere, is not."""
    user_with_password(server, "alma")
    guesses = [sign_in(server, "alma", "wrong", "198.51.100.7")[0] for _ in range(6)]
    assert guesses == [401, 401, 401, 401, 429, 429]
    assert sign_in(server, "alma", PASSWORD, "198.51.100.8")[0] == 200
    assert sign_in(server, "alma", PASSWORD, "198.51.100.7")[0] == 429


def test_a_spray_is_refused_before_the_21st_username(server: Daphne) -> None:
    """One address trying a password on many usernames gets 429 at the 21st; another
    address is not affected."""
    answers = [sign_in(server, f"nobody{n}", PASSWORD, "198.51.100.50")[0] for n in range(21)]
    assert answers == [401] * 20 + [429]
    assert sign_in(server, "nobody0", PASSWORD, "198.51.100.51")[0] == 401
