"""PostgreSQL cut for a few seconds behind a TCP proxy the test controls (the
bundled Toxiproxy): a connect is told to retry (1013, never 403 or 4401), a
subscribe gets `unavailable` and the connection stays, a resume that must read
the database closes 1013 instead of dying silently, and once the database is
back a client holds every event. No ERROR line: the outage is not a bug."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator

import pytest
from toxiproxy.api import APIConsumer
from toxiproxy.proxy import Proxy
from toxiproxy.server import Toxiproxy
from websockets.asyncio.client import connect

from realtime.client.streaming import EventStream, StreamRefused
from realtime.testing import postgres
from realtime.testing.api import call, new_order, visible_events
from realtime.testing.processes import HOST, Daphne, free_port, server_env
from realtime.testing.watchers import watch
from tests.integration.conftest import FAST
from tests.integration.wsclient import close_code, next_frame

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def postgres_proxy(toxiproxy_port: int) -> Proxy:
    APIConsumer.host, APIConsumer.port = HOST, toxiproxy_port
    port = urllib.parse.urlsplit(postgres.server_url()).port
    proxy: Proxy = Toxiproxy().create(
        upstream=f"{HOST}:{port}", name="postgres", listen=f"{HOST}:{free_port()}"
    )
    return proxy


@pytest.fixture(scope="module")
def server(postgres_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    tmp = tmp_path_factory.mktemp("outage")
    with postgres.fresh_database() as direct:
        parts = urllib.parse.urlsplit(direct)
        netloc = f"{parts.username}@{postgres_proxy.listen}"
        proxied = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        env = server_env(database_url=proxied, log_dir=tmp / "logs", extra=FAST)
        with Daphne(free_port(), env, tmp / "logs") as daphne:
            yield daphne


async def reset_for_a_second(proxy: Proxy) -> None:
    """Every PostgreSQL connection through the proxy reset, for a second."""
    await asyncio.to_thread(
        proxy.add_toxic, type="reset_peer", stream="downstream", attributes={"timeout": 0}
    )
    await asyncio.sleep(1)
    await asyncio.to_thread(proxy.destroy_toxic, "reset_peer_downstream")


@contextlib.asynccontextmanager
async def cut(proxy: Proxy) -> AsyncIterator[None]:
    """The database unreachable: its connections reset, new ones refused."""
    await asyncio.to_thread(proxy.disable)
    try:
        yield
    finally:
        await asyncio.to_thread(proxy.enable)


async def test_a_connect_during_a_cut_is_told_to_retry_later(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """The user lookup failing is 1013 'try again later', not HTTP 403 or 4401."""
    token = await asyncio.to_thread(server.manage, "token", "carol", "--create")
    async with (
        cut(postgres_proxy),
        connect(f"{server.ws}?token={token}", open_timeout=10) as ws,
    ):
        assert await close_code(ws) == 1013
        assert ws.close_reason == "database unavailable, try again later"
    async with connect(f"{server.ws}?token={token}", open_timeout=10) as ws:
        assert (await next_frame(ws, "welcome"))["user"] == "carol"
    assert server.error_lines() == []


async def test_a_stream_during_a_cut_is_refused_with_503(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """`/sse/orders/` while the user lookup fails: 503 with Retry-After and the close
    reason, never 401 or 403; then it streams."""
    token = await asyncio.to_thread(server.manage, "token", "cora", "--create")
    async with cut(postgres_proxy):
        stream = EventStream(server.sse, {"Authorization": f"Bearer {token}"}, 10)
        with pytest.raises(StreamRefused) as refused:
            await stream.open()
        stream.abort()
    assert (refused.value.status, refused.value.code) == (503, 1013)
    assert refused.value.detail == "database unavailable, try again later"
    assert refused.value.retry_after is not None
    stream = EventStream(server.sse, {"Authorization": f"Bearer {token}"}, 10)
    await stream.open()
    try:
        assert (await anext(stream.events())).event == "welcome"
    finally:
        stream.abort()
    assert server.error_lines() == []


async def test_a_subscribe_during_a_cut_gets_unavailable_and_the_connection_stays(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """`subscribe order:N` while the database is away: an `unavailable` error, then it works."""
    token = await asyncio.to_thread(server.manage, "token", "dave", "--create")
    order_id = await asyncio.to_thread(new_order, server.http, token)
    async with connect(f"{server.ws}?token={token}", open_timeout=10) as ws:
        await next_frame(ws, "welcome")
        subscribe = {"type": "subscribe", "scope": f"order:{order_id}", "ref": "s1"}
        async with cut(postgres_proxy):
            await ws.send(json.dumps(subscribe))
            error = await next_frame(ws, "error")
            assert (error["code"], error["ref"]) == ("unavailable", "s1")
        await ws.send(json.dumps({**subscribe, "ref": "s2"}))
        assert (await next_frame(ws, "subscribed"))["ref"] == "s2"
    assert server.error_lines() == []


async def test_a_resume_during_a_cut_closes_1013_and_a_client_catches_up_after(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """A resume that must read the database closes 1013; the library client retries
    through the outage and then holds every event, once, in order."""
    token = await asyncio.to_thread(server.manage, "token", "erin", "--create")
    staff = await asyncio.to_thread(server.manage, "token", "boss", "--create", "--staff")
    for _ in range(3):
        url = f"{server.http}/api/orders/{await asyncio.to_thread(new_order, server.http, token)}/"
        status, _ = await asyncio.to_thread(call, "PATCH", url, staff, {"status": "confirmed"})
        assert status == 200
    # A restart empties the hub's window of recent events: resumes read the database.
    server.stop()
    server.start()
    expected = await asyncio.to_thread(visible_events, server.http, token)
    async with connect(f"{server.ws}?token={token}", open_timeout=10) as ws:
        await next_frame(ws, "welcome")
        async with cut(postgres_proxy):
            await ws.send(json.dumps({"type": "resume", "since": 0}))
            assert await close_code(ws) == 1013
            watcher = watch(server.ws, token, since=0, backoff_base=0.2, backoff_cap=1.0)
            # The outage lasts until the client has been told to retry twice.
            deadline = time.monotonic() + 20
            while watcher.closes().count(1013) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert watcher.updates == []
        try:
            await watcher.wait_updates(len(expected), timeout=20)
            assert watcher.received() == expected
            assert watcher.stopped is None
            assert 1013 in watcher.closes()
        finally:
            await watcher.stop()
    assert server.error_lines() == []


async def test_http_during_a_cut_is_503_with_retry_after_and_no_error_line(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """The API answers 503 "database unavailable" with Retry-After, logged as a WARNING."""
    token = await asyncio.to_thread(server.manage, "token", "ivy", "--create")
    async with cut(postgres_proxy):
        answers = [
            await asyncio.to_thread(raw_call, f"{server.http}/api/orders/", token) for _ in range(5)
        ]
    for status, retry_after, body in answers:
        assert (status, body) == (503, {"detail": "database unavailable"})
        assert retry_after == "5"
    server.wait_for_log(r"WARNING realtime\.database database unavailable")
    assert server.error_lines() == []
    assert call("GET", f"{server.http}/api/orders/", token)[0] == 200


async def test_a_status_change_during_a_cut_is_503_and_goes_through_after_it(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """PATCH, whose change borrows the event loop's own connections, answers 503
    with Retry-After during a cut, and changes the order once the database is
    back, and again after its connections were reset, with no ERROR line."""
    staff = await asyncio.to_thread(server.manage, "token", "kim", "--create", "--staff")
    order = f"{server.http}/api/orders/{await asyncio.to_thread(new_order, server.http, staff)}/"
    assert (await asyncio.to_thread(call, "PATCH", order, staff, {"status": "confirmed"}))[0] == 200
    async with cut(postgres_proxy):
        started = time.monotonic()
        refused = await asyncio.to_thread(raw_call, order, staff, "PATCH", {"status": "preparing"})
        waited = time.monotonic() - started
    assert refused == (503, "5", {"detail": "database unavailable"})
    assert waited < 8
    status, body = await asyncio.to_thread(call, "PATCH", order, staff, {"status": "preparing"})
    assert (status, body["status"], body["version"]) == (200, "preparing", 3)
    await reset_for_a_second(postgres_proxy)
    status, body = await asyncio.to_thread(call, "PATCH", order, staff, {"status": "ready"})
    assert (status, body["status"], body["version"]) == (200, "ready", 4)
    assert server.error_lines() == []


def raw_call(
    url: str, token: str, method: str = "GET", body: object = None
) -> tuple[int, str | None, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Retry-After"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After"), json.loads(error.read())


async def test_connections_reset_under_the_server_cost_at_most_one_failed_request(
    server: Daphne, postgres_proxy: Proxy
) -> None:
    """Every PostgreSQL connection reset under the server: the next requests succeed."""
    token = await asyncio.to_thread(server.manage, "token", "lena", "--create")
    url = f"{server.http}/api/orders/"
    assert [(await acall_status(url, token)) for _ in range(4)] == [200] * 4
    await reset_for_a_second(postgres_proxy)
    answers = [await acall_status(url, token) for _ in range(10)]
    assert sum(status != 200 for status in answers) <= 1, answers
    assert server.error_lines() == []


async def acall_status(url: str, token: str) -> int:
    return (await asyncio.to_thread(raw_call, url, token))[0]
