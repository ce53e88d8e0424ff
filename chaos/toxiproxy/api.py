"""Toxiproxy's HTTP API. The stdlib HTTP server parses requests in its own
threads; every request runs on the asyncio loop that owns the proxies, one at
a time, so handlers never race each other or the links."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chaos.toxiproxy.errors import TOXIC_NOT_FOUND, ApiError
from chaos.toxiproxy.proxy import Collection

logger = logging.getLogger("chaos.toxiproxy")

VERSION = "2.12.0"
REQUEST_TIMEOUT = 25.0
MAX_BODY = 1024 * 1024


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


def ok(data: object, status: int = 200) -> Response:
    return Response(status, json.dumps(data, separators=(",", ":")).encode())


def error(exc: ApiError) -> Response:
    # Go's http.Error: the JSON text plus a newline, served as text/plain.
    body = json.dumps(exc.as_json(), separators=(",", ":")).encode() + b"\n"
    return Response(exc.status, body, "text/plain; charset=utf-8")


PROXY = re.compile(r"^/proxies/([^/]+)$")
TOXICS = re.compile(r"^/proxies/([^/]+)/toxics$")
TOXIC = re.compile(r"^/proxies/([^/]+)/toxics/([^/]+)$")


class Api:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.lock = asyncio.Lock()

    async def handle(self, method: str, path: str, body: bytes) -> Response:
        async with self.lock:
            try:
                return await self._route(method, path, body)
            except ApiError as exc:
                return error(exc)

    async def _route(self, method: str, path: str, body: bytes) -> Response:
        c = self.collection
        if path == "/version" and method == "GET":
            return Response(
                200, f'{{"version": "{VERSION}"}}\n'.encode(), "application/json;charset=utf-8"
            )
        if path == "/reset" and method == "POST":
            await c.reset()
            return Response(204)
        if path == "/proxies" and method == "GET":
            return ok({name: p.as_json() for name, p in c.proxies.items()})
        if path == "/proxies" and method == "POST":
            return ok((await c.create(body)).as_json(), 201)
        if path == "/populate" and method == "POST":
            try:
                proxies, failure = await c.populate(body)
            except ApiError as exc:
                proxies, failure = [], exc
            listed = [p.as_json() for p in proxies] or None
            if failure is None:
                return ok({"proxies": listed}, 201)
            return ok({**failure.as_json(), "proxies": listed}, failure.status)
        if match := PROXY.match(path):
            name = match.group(1)
            if method == "GET":
                return ok(c.get(name).as_json())
            if method in ("POST", "PATCH"):
                return ok((await c.update(name, body)).as_json())
            if method == "DELETE":
                await c.remove(name)
                return Response(204)
        if match := TOXICS.match(path):
            proxy = c.get(match.group(1))
            if method == "GET":
                return ok([t.as_json() for t in proxy.ordered_toxics()])
            if method == "POST":
                return ok(proxy.add_toxic(body).as_json())
        if match := TOXIC.match(path):
            proxy = c.get(match.group(1))
            name = match.group(2)
            if method == "GET":
                toxic = proxy.find(name)
                if toxic is None:
                    raise TOXIC_NOT_FOUND
                return ok(toxic.as_json())
            if method in ("POST", "PATCH"):
                return ok(proxy.update_toxic(name, body).as_json())
            if method == "DELETE":
                proxy.remove_toxic(name)
                return Response(204)
        if any(r.match(path) for r in (PROXY, TOXICS, TOXIC)) or path in (
            "/version",
            "/reset",
            "/proxies",
            "/populate",
        ):
            # gorilla/mux's 405 carries no Content-Type.
            return Response(405, b"", "")
        return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")


class HttpServer:
    """Serves `Api` on host:port from a thread, answering on `loop`."""

    def __init__(self, api: Api, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        self.api = api
        self.loop = loop
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        port: int = self.httpd.server_address[1]
        return port

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                if self.headers.get("User-Agent", "").startswith("Mozilla/"):
                    self._send(
                        Response(403, b"User agent not allowed\n", "text/plain; charset=utf-8")
                    )
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(error(ApiError("bad request body: too large", 400)))
                    return
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                future = asyncio.run_coroutine_threadsafe(
                    server.api.handle(self.command, path, body), server.loop
                )
                self._send(future.result(REQUEST_TIMEOUT))

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                if response.status != 204 and response.content_type:
                    self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if response.body:
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("api %s", format % args)

        return Handler
