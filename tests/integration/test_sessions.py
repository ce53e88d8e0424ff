"""Sessions against a real server, on SQLite and PostgreSQL: a sign-in lasts
SESSION_MAX_AGE however often its token is refreshed; a password change or a
sign-out everywhere ends every token and connection of the user
(docs/protocol.md, "Tokens and revocation")."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import jwt
import pytest

from realtime.testing.api import acall, call
from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server
from tests.integration.wsclient import close_code, frames_until_closed, next_frame, open_ws

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PASSWORD = "pw-alice"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daphne]:
    tmp = tmp_path_factory.mktemp(f"sessions-{request.param}")
    extra = {"AUTH_RECHECK_INTERVAL": "1", "SESSION_MAX_AGE": "6", "TOKEN_TTL": "6"}
    with make_server(tmp, request.param, "memory", request, **extra) as daphne:
        yield daphne


def user_with_password(server: Daphne, username: str, staff: bool = False) -> None:
    script = (
        "import django; django.setup(); from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({username!r}, password={PASSWORD!r}, "
        f"is_staff={staff})"
    )
    run_django(server, script)


@contextlib.contextmanager
def password_changer(server: Daphne, username: str) -> Iterator[Callable[[], None]]:
    """Starts Django beforehand so that the change itself takes well under
    SESSION_MAX_AGE once it is asked for, however loaded the machine is."""
    script = (
        "import sys, django; django.setup(); from django.contrib.auth import get_user_model; "
        f"user = get_user_model().objects.get(username={username!r}); "
        "print('ready', flush=True); sys.stdin.readline(); "
        "user.set_password('another-one'); user.save(); print('changed', flush=True)"
    )
    env = {**server.env, "DJANGO_SETTINGS_MODULE": "realtime.settings"}
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None
        assert stdout is not None
        assert stdout.readline().strip() == "ready"

        def change() -> None:
            stdin.write("go\n")
            stdin.flush()
            assert stdout.readline().strip() == "changed"

        try:
            yield change
        finally:
            stdin.close()
            process.wait(timeout=60)


def run_django(server: Daphne, script: str) -> None:
    env = {**server.env, "DJANGO_SETTINGS_MODULE": "realtime.settings"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)


def sign_in(server: Daphne, username: str) -> str:
    status, body = call(
        "POST", f"{server.http}/api/token/", None, {"username": username, "password": PASSWORD}
    )
    assert status == 200, body
    return str(body["token"])


def claims(token: str) -> dict[str, int]:
    decoded: dict[str, int] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_a_refresh_loop_ends_at_session_max_age(server: Daphne) -> None:
    """Refreshing every second keeps the sign-in's auth_time, never passes it plus
    SESSION_MAX_AGE (6 s), and is refused once it is reached."""
    user_with_password(server, "rita")
    token = sign_in(server, "rita")
    signed_in = claims(token)["auth_time"]
    refused_at = None
    for _ in range(20):
        time.sleep(1)
        status, body = call("POST", f"{server.http}/api/token/refresh/", token)
        if status != 200:
            refused_at = time.time()
            assert status == 401
            break
        token = body["token"]
        assert claims(token)["auth_time"] == signed_in
        assert claims(token)["exp"] <= signed_in + 6
    assert refused_at is not None
    assert signed_in + 5 <= refused_at <= signed_in + 8


async def test_a_password_change_ends_every_session_within_a_recheck(server: Daphne) -> None:
    """The open socket closes with 4401 "signed out", and the old token neither reads
    nor refreshes."""
    await asyncio.to_thread(user_with_password, server, "paul")
    with password_changer(server, "paul") as change_password:
        token = await asyncio.to_thread(sign_in, server, "paul")
        ws = await open_ws(server.ws, token)
        await next_frame(ws, "welcome")
        # Answering heartbeats, as a client does, from before the change: on
        # a loaded machine the password's hashing alone can outlast the
        # heartbeat timeout.
        closed = asyncio.create_task(frames_until_closed(ws, timeout=30))
        await asyncio.to_thread(change_password)
        await closed
    assert (ws.close_code, ws.close_reason) == (4401, "signed out: sign in again")
    reads = await acall("GET", f"{server.http}/api/orders/", token)
    refresh = await acall("POST", f"{server.http}/api/token/refresh/", token)
    assert (reads[0], refresh[0]) == (401, 401)


async def test_sign_out_everywhere_ends_the_other_sessions(server: Daphne) -> None:
    """POST /api/token/revoke/ from one device closes the socket of another."""
    await asyncio.to_thread(user_with_password, server, "sven")
    phone, tablet = [await asyncio.to_thread(sign_in, server, "sven") for _ in range(2)]
    ws = await open_ws(server.ws, tablet)
    await next_frame(ws, "welcome")
    status, _ = await acall("POST", f"{server.http}/api/token/revoke/", phone)
    assert status == 204
    assert await close_code(ws, timeout=5) == 4401
    assert (await acall("GET", f"{server.http}/api/orders/", tablet))[0] == 401
