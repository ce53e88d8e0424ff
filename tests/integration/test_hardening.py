"""Hardening against a real server (docs/operations.md, docs/guarantees.md):
readiness that stays true on an idle Redis-backed server, no development key
off loopback, revocation and token refresh on open connections, a deadline
for request heads and a cap per address, and a bad handshake header refused
with 400 at INFO."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from websockets.asyncio.client import connect

from realtime.testing.api import acall, call, new_order
from realtime.testing.processes import (
    HOST,
    Daphne,
    free_port,
    server_env,
    start_redis,
    stop_process,
    wait_until,
)
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.wsclient import (
    close_code,
    frames_for,
    frames_until_closed,
    next_frame,
    open_ws,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RECHECK = {"AUTH_RECHECK_INTERVAL": "1"}


def set_user(server: Daphne, username: str, **fields: bool) -> None:
    """Change a user's flags in the server's database, as an admin's UPDATE
    would: one statement, where a Django start in a subprocess outlasted the
    heartbeat timeout of the socket the test holds under the full suite."""
    url = server.env["DATABASE_URL"]
    assignments = ", ".join(f"{name} = %s" for name in fields)
    statement = f"UPDATE auth_user SET {assignments} WHERE username = %s"
    values = (*fields.values(), username)
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        with contextlib.closing(db), db:
            db.execute(statement.replace("%s", "?"), values)
        return
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(statement, values)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daphne]:
    tmp = tmp_path_factory.mktemp(f"hardening-{request.param}")
    with make_server(tmp, request.param, "memory", request, **RECHECK) as daphne:
        yield daphne


async def test_a_deactivated_user_is_closed_4401_within_the_recheck_interval(
    server: Daphne,
) -> None:
    """Deactivating a user closes their open socket with 4401 "user deactivated"."""
    token = await asyncio.to_thread(server.manage, "token", "dora", "--create")
    ws = await open_ws(server.ws, token)
    await next_frame(ws, "welcome")
    # Answering heartbeats from before the change, as a client does: on a
    # loaded machine the change's own Django start can outlast their timeout.
    closed = asyncio.create_task(frames_until_closed(ws, timeout=30))
    await asyncio.to_thread(set_user, server, "dora", is_active=False)
    await closed
    assert ws.close_code == 4401
    assert ws.close_reason == "user deactivated"
    await asyncio.to_thread(set_user, server, "dora", is_active=True)


async def test_demoted_staff_lose_all_on_the_socket_and_over_http(server: Daphne) -> None:
    """Demoted staff lose `all` with `forbidden`, and HTTP stops treating them as staff."""
    tokens = await asyncio.to_thread(seed_tokens, server)
    ws = await open_ws(server.ws, tokens["staff"])
    await next_frame(ws, "welcome")
    await ws.send(json.dumps({"type": "subscribe", "scope": "all"}))
    await next_frame(ws, "subscribed")
    await asyncio.to_thread(set_user, server, "staff", is_staff=False)
    try:
        error = await next_frame(ws, "error", timeout=10)
        assert error["code"] == "forbidden"
        order = await asyncio.to_thread(new_order, server.http, tokens["alice"])
        assert not [f for f in await frames_for(ws, 1.5) if f["type"] == "order.update"]
        status, _ = await acall("GET", f"{server.http}/api/orders/{order}/", tokens["staff"])
        assert status == 404
    finally:
        await ws.close()
        await asyncio.to_thread(set_user, server, "staff", is_staff=True)


async def test_a_demoted_user_stops_receiving_another_users_order(server: Daphne) -> None:
    """A staff member watching bob's order by `order:<id>` loses it on demotion: an error
    says so, and bob's next change does not reach them."""
    bob = await asyncio.to_thread(server.manage, "token", "bobby", "--create")
    stan = await asyncio.to_thread(server.manage, "token", "stan", "--create", "--staff")
    order_id = await asyncio.to_thread(new_order, server.http, bob)
    ws = await open_ws(server.ws, stan, scopes=f"order:{order_id}")
    await next_frame(ws, "welcome")
    await next_frame(ws, "subscribed")
    await asyncio.to_thread(set_user, server, "stan", is_staff=False)
    error = await next_frame(ws, "error", timeout=5)
    assert (error["code"], error["detail"]) == (
        "forbidden",
        f"no longer allowed: unsubscribed from order:{order_id}",
    )
    status, _ = await acall(
        "PATCH", f"{server.http}/api/orders/{order_id}/", bob, {"status": "cancelled"}
    )
    assert status == 200
    later = await frames_for(ws, 2)
    assert [f for f in later if f["type"] == "order.update"] == []
    await ws.close()


async def test_a_token_is_renewed_without_reconnecting(server: Daphne) -> None:
    """welcome names the expiry; /api/token/refresh/ and an `auth` frame keep the socket past it."""
    # Made before the socket opens: a Django start in a subprocess under the
    # full suite outlasts the heartbeat timeout of a socket nobody reads.
    other = await asyncio.to_thread(server.manage, "token", "frank", "--create")
    # Long enough to refresh before it lapses while the whole suite loads the machine.
    short = await asyncio.to_thread(server.manage, "token", "erin", "--create", "--ttl", "6")
    ws = await open_ws(server.ws, short)
    welcome = await next_frame(ws, "welcome")
    assert welcome["expires_at"] == jwt.decode(short, options={"verify_signature": False})["exp"]
    status, fresh = await acall("POST", f"{server.http}/api/token/refresh/", short)
    assert status == 200
    await ws.send(json.dumps({"type": "auth", "token": fresh["token"], "ref": 1}))
    renewed = await next_frame(ws, "authenticated")
    assert renewed["expires_at"] > welcome["expires_at"] + 60
    # Past the first token's expiry: the socket lives on the renewed one.
    await frames_for(ws, welcome["expires_at"] - time.time() + 1.5)
    await ws.send(json.dumps({"type": "heartbeat", "ts": 1}))
    assert (await next_frame(ws, "heartbeat_ack"))["ts"] == 1
    await ws.send(json.dumps({"type": "auth", "token": other}))
    assert await close_code(ws) == 4401
    assert ws.close_reason == "token for another user"


def test_an_idle_redis_backed_server_stays_ready(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With a WebSocket open and no traffic, ten readiness probes in a row answer 200."""
    with make_server(tmp_path, "sqlite", "redis", request) as daphne:
        token = daphne.manage("token", "hank", "--create")

        async def hold_open() -> list[int]:
            ws = await open_ws(daphne.ws, token)
            await next_frame(ws, "welcome")
            # Past channels-redis's 5 s blocking receive, which the old probe queued behind.
            await frames_for(ws, 6)
            answers = []
            for _ in range(10):
                status, body = await acall("GET", f"{daphne.http}/health/ready")
                answers.append(status)
                assert body["checks"]["redis"] == "ok", body
            await ws.close()
            return answers

        assert asyncio.run(hold_open()) == [200] * 10


def test_a_redis_cut_keeps_readiness_200_degraded(tmp_path: Path) -> None:
    """Redis stopped under a running server: /health/ready stays 200, says "degraded" and
    why, while the database carries deliveries; back to "ok" once Redis returns."""
    redis = start_redis()
    env = server_env(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        log_dir=tmp_path / "logs",
        redis_url=redis.url,
    )
    try:
        with Daphne(free_port(), env, tmp_path / "logs") as daphne:
            assert readiness(daphne)[1]["status"] == "ok"
            redis.stop()
            wait_until(lambda: readiness(daphne)[1]["status"] == "degraded", 15, "degraded")
            status, body = readiness(daphne)
            assert status == 200
            assert any(reason.startswith("redis") for reason in body["degraded"])
            redis = start_redis(redis.port)
            wait_until(lambda: readiness(daphne)[1]["status"] == "ok", 30, "ok again")
    finally:
        redis.stop()


def readiness(server: Daphne) -> tuple[int, dict[str, Any]]:
    status, body = call("GET", f"{server.http}/health/ready")
    return status, body


def test_serving_off_loopback_without_secret_key_exits_naming_it(tmp_path: Path) -> None:
    """No SECRET_KEY and --host 0.0.0.0: exit 2 with one line naming SECRET_KEY."""
    env = server_env(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", log_dir=tmp_path / "logs")
    del env["SECRET_KEY"]
    run = subprocess.run(
        [sys.executable, "-m", "realtime.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    lines = run.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "SECRET_KEY" in lines[0]


def test_plain_daphne_with_the_development_key_answers_503_off_loopback(
    tmp_path: Path,
) -> None:
    """`daphne -b 0.0.0.0` with no SECRET_KEY: a loopback client is served, any other gets
    503 naming SECRET_KEY (here through daphne's proxy headers), and the log says so once,
    at ERROR."""
    env = server_env(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", log_dir=tmp_path / "logs")
    del env["SECRET_KEY"]
    env["DJANGO_SETTINGS_MODULE"] = "realtime.settings"
    port = free_port()
    subprocess.run([sys.executable, "-m", "realtime.cli", "demo"], env=env, check=True, timeout=120)
    command = [sys.executable, "-m", "daphne", "-b", "0.0.0.0", "-p", str(port)]
    daphne = subprocess.Popen(
        [*command, "--proxy-headers", "realtime.asgi:application"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://{HOST}:{port}/health/live"
        wait_until(lambda: live_at(url), 30, "daphne")
        request = urllib.request.Request(url, headers={"X-Forwarded-For": "203.0.113.9"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 503
        assert "SECRET_KEY" in json.loads(refused.value.read())["detail"]
    finally:
        stop_process(daphne)
    errors = [
        line
        for line in (tmp_path / "logs" / "websocket.log").read_text().splitlines()
        if " ERROR " in line
    ]
    assert len(errors) == 1
    assert "SECRET_KEY" in errors[0]


def live_at(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_an_unwritable_log_dir_is_one_line(tmp_path: Path) -> None:
    """LOG_DIR that cannot be made stops the start with one line, no traceback."""
    (tmp_path / "file").write_text("")
    env = server_env(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", log_dir=tmp_path / "file" / "logs"
    )
    run = subprocess.run(
        [sys.executable, "-m", "realtime.cli", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.decode().strip().splitlines() == [
        f"realtime serve: LOG_DIR {tmp_path / 'file' / 'logs'} is not writable: Not a directory"
    ]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    tmp = tmp_path_factory.mktemp("heads")
    env = server_env(
        database_url=f"sqlite:///{tmp / 'db.sqlite3'}",
        log_dir=tmp / "logs",
        extra={"HTTP_HEADER_TIMEOUT": "1", "HTTP_MAX_PENDING_PER_ADDRESS": "5"},
    )
    with Daphne(free_port(), env, tmp / "logs") as daphne:
        yield daphne


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (while it trickles a header
    line every 0.2 s), or None if it is still open after `seconds`."""
    start = time.monotonic()
    sock.settimeout(0.2)
    for line in range(int(seconds / 0.2) + 1):
        try:
            sock.sendall(f"X-Slow-{line}: 1\r\n".encode())
            if sock.recv(1024) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def test_a_trickled_request_head_is_dropped_at_its_deadline(guarded: Daphne) -> None:
    """One header line every 0.2 s no longer holds a socket: it closes at HTTP_HEADER_TIMEOUT."""
    with socket.create_connection((HOST, guarded.port)) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        took = closed_within(sock, 5)
    assert took is not None
    assert took < 3
    guarded.wait_for_log(r"WARNING realtime\.server dropped a connection from 127\.0\.0\.1")


def test_connections_past_the_per_address_cap_are_refused(guarded: Daphne) -> None:
    """With 5 heads begun and unfinished from one address, the 6th connection is closed at once."""
    held = [socket.create_connection((HOST, guarded.port)) for _ in range(5)]
    for sock in held:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        # Until the server has read the five heads' first lines.
        wait_until(lambda: refused_at_once(guarded.port), 5, "a sixth connection refused")
        assert refused_at_once(guarded.port)
        guarded.wait_for_log(r"WARNING realtime\.server refused a connection from 127\.0\.0\.1")
    finally:
        for sock in held:
            sock.close()
    # The closed heads stop counting at their deadline (1 s here).
    wait_until(lambda: live_status(guarded) == 200, 5, "/health/live from the same address")
    assert live_status(guarded) == 200


def test_a_websocket_without_a_token_authenticates_with_its_first_frame(guarded: Daphne) -> None:
    """No token in the URL: an `auth` frame admits it; the log's lines hold no token."""
    alice = guarded.manage("token", "alice", "--create")

    async def scenario() -> dict[str, Any]:
        ws = await open_ws(guarded.ws, scopes="mine")
        try:
            await ws.send(json.dumps({"type": "auth", "token": alice}))
            return await next_frame(ws, "welcome")
        finally:
            await ws.close()

    assert asyncio.run(scenario())["user"] == "alice"
    assert alice not in guarded.log_text()


def test_a_bad_token_in_the_handshake_header_is_refused_at_once(guarded: Daphne) -> None:
    """A token presented in `Authorization` that fails is a 4401 now, not a wait for `auth`."""

    async def scenario() -> int | None:
        headers = {"Authorization": "Bearer garbage"}
        async with connect(guarded.ws, additional_headers=headers) as ws:
            return await close_code(ws, timeout=0.5)

    assert asyncio.run(scenario()) == 4401


def test_sockets_waiting_for_an_auth_frame_count_against_the_per_address_cap(
    guarded: Daphne,
) -> None:
    """Five silent sockets: a sixth connection is refused; at the deadline each gets 4401."""

    async def scenario() -> tuple[bool, list[int | None]]:
        waiting = [await open_ws(guarded.ws) for _ in range(5)]
        refused = await asyncio.to_thread(refused_at_once, guarded.port)
        codes = await asyncio.gather(*(close_code(ws, timeout=5) for ws in waiting))
        return refused, list(codes)

    refused, codes = asyncio.run(scenario())
    assert refused
    assert codes == [4401] * 5
    guarded.wait_for_log(r"code=4401 by=server reason=\"no auth frame within 1 s\"")
    wait_until(lambda: live_status(guarded) == 200, 5, "/health/live from the same address")


def raw_answer(port: int, head: str) -> bytes:
    """Everything the server sends back for `head` until it closes."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(head.encode())
        answer = b""
        for _ in range(100):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/orders/?q=" + "a" * 60_000, "", b"414 URI Too Long"),
        ("/ws/orders/?token=" + "a" * 60_000, UPGRADE, b"414 URI Too Long"),
        ("/health/live", "X-Big: " + "b" * 60_000 + "\r\n", b"431 Request Header Fields Too Large"),
    ],
)
def test_a_line_too_long_for_the_server_is_answered_414_or_431(
    guarded: Daphne, path: str, headers: str, status: bytes
) -> None:
    """A 60 KB query (HTTP or WebSocket) gets 414, a 60 KB header 431, each saying the limit."""
    answer = raw_answer(guarded.port, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n")
    assert answer.startswith(b"HTTP/1.1 " + status + b"\r\n")
    assert answer.endswith(b'longer than 16384 bytes"}')


def refused_at_once(port: int) -> bool:
    """Whether a new connection is closed by the server before it sends anything."""
    with socket.create_connection((HOST, port)) as probe:
        probe.settimeout(0.5)
        try:
            return probe.recv(1024) == b""
        except TimeoutError:
            return False


def live_status(server: Daphne) -> int:
    try:
        with urllib.request.urlopen(f"{server.http}/health/live", timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


def test_a_non_ascii_subprotocol_is_a_400_at_info(guarded: Daphne) -> None:
    """A Sec-WebSocket-Protocol of non-ASCII bytes gets HTTP 400 and an INFO line, no ERROR."""
    handshake = (
        b"GET /ws/orders/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: caf\xe9\r\n\r\n"
    )
    with socket.create_connection((HOST, guarded.port)) as sock:
        sock.sendall(handshake)
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    guarded.wait_for_log(r"INFO realtime\.ws refused a handshake: non-ASCII")
    assert guarded.error_lines() == []


async def test_password_guessing_is_locked_out_on_either_database(server: Daphne) -> None:
    """django-axes on SQLite and PostgreSQL: at the limit, 429 with Retry-After, names or not."""
    url = f"{server.http}/api/token/"
    for name in ("judy", "nobody-at-all"):
        answers = [
            (await acall("POST", url, None, {"username": name, "password": "guess"}))[0]
            for _ in range(5)
        ]
        assert answers == [401, 401, 401, 401, 429]
    server.wait_for_log(r"WARNING realtime\.auth sign-in locked out after repeated failures")


async def test_a_client_sending_1011_is_counted_as_the_clients_close(server: Daphne) -> None:
    """ws_connections_total says who closed: a client's 1011 is by="client", not a server bug."""
    token = await asyncio.to_thread(server.manage, "token", "kim", "--create")
    ws = await open_ws(server.ws, token)
    await next_frame(ws, "welcome")
    await ws.close(code=1011, reason="client bug")
    server.wait_for_log(r"close conn=\S+ user=kim code=1011 by=client")
    exposition = await asyncio.to_thread(metrics_text, server)
    assert 'ws_connections_total{by="client",code="1011",transport="websocket"}' in exposition


def metrics_text(server: Daphne) -> str:
    with urllib.request.urlopen(f"{server.http}/metrics", timeout=5) as response:
        return str(response.read().decode())
