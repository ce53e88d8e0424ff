from __future__ import annotations

import contextlib
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from toxiproxy.api import APIConsumer
from toxiproxy.server import Toxiproxy

from chaos.harness import toxiproxy_answers
from realtime.testing.processes import HOST


def api_up(port: int) -> bool:
    return toxiproxy_answers(f"http://{HOST}:{port}")


@pytest.fixture
def toxiproxy(toxiproxy_port: int) -> Iterator[Toxiproxy]:
    APIConsumer.host = HOST
    APIConsumer.port = toxiproxy_port
    server = Toxiproxy()
    server.destroy_all()
    yield server
    server.destroy_all()


class Upstream:
    """A TCP server on 127.0.0.1 running `serve(conn)` for each connection, in threads."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.serve = serve
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def _accept(self) -> None:
        for _ in range(100_000):
            if self.closing:
                return
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.serve(conn)

    def close(self) -> None:
        self.closing = True
        self.listener.close()


def echo(conn: socket.socket) -> None:
    for _ in range(1_000_000):
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


@pytest.fixture
def echo_upstream() -> Iterator[Upstream]:
    upstream = Upstream(echo)
    yield upstream
    upstream.close()


Call = Callable[..., tuple[int, object]]


@pytest.fixture
def call(toxiproxy: Toxiproxy, toxiproxy_port: int) -> Call:
    """Raw API call: (status, decoded JSON body or text)."""
    import json

    def request(
        method: str, path: str, body: object = None, raw: bytes | None = None
    ) -> tuple[int, object]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(
            f"http://{HOST}:{toxiproxy_port}{path}", data=data, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    return request
