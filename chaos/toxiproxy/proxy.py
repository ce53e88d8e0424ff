"""Proxies and their toxics (Toxiproxy's Proxy, ProxyCollection and
ToxicCollection): listen, connect each client to the upstream through two
links, and apply toxic changes to every live link."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import socket
from dataclasses import dataclass, field
from typing import Any

from chaos.toxiproxy import toxics
from chaos.toxiproxy.decoding import decode_into, parse_body
from chaos.toxiproxy.errors import (
    BAD_REQUEST_BODY,
    MISSING_FIELD,
    PROXY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_NOT_FOUND,
    ApiError,
)
from chaos.toxiproxy.link import Link
from chaos.toxiproxy.toxics import DOWNSTREAM, UPSTREAM, Toxic

logger = logging.getLogger("chaos.toxiproxy")

PROXY_FIELDS = {"name": "string", "listen": "string", "upstream": "string", "enabled": "bool"}


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ApiError(f"address {address}: missing port in address", 500)
    return host.strip("[]"), int(port)


def resolve(address: str) -> str:
    """`localhost:0` → `127.0.0.1:0`, as Go's net.ResolveTCPAddr prints it."""
    host, port = split_address(address)
    if host:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ApiError(f"lookup {host}: {exc.strerror}", 500) from exc
        ipv4 = [i for i in infos if i[0] == socket.AF_INET]
        host = str((ipv4 or infos)[0][4][0])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(eq=False)
class Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    links: list[Link] = field(default_factory=list)

    def close(self) -> None:
        for link in self.links:
            link.close()
        self.client.close()
        self.upstream.close()


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.rng = rng
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.as_json() for t in self.ordered_toxics()],
        }

    def ordered_toxics(self) -> list[Toxic]:
        """Upstream toxics first, then downstream, each in the order added."""
        return [t for d in (UPSTREAM, DOWNSTREAM) for t in self.toxics if t.direction == d]

    # Listening

    async def start(self) -> None:
        if self.enabled:
            return
        host, port = split_address(resolve(self.listen) if self.listen else "127.0.0.1:0")
        try:
            self.server = await asyncio.start_server(self._accept, host or None, port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            if exc.errno == errno.EADDRINUSE:
                reason = "address already in use"
            raise ApiError(f"listen tcp {self.listen}: bind: {reason.lower()}", 500) from exc
        bound = self.server.sockets[0].getsockname()
        self.listen = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
        self.enabled = True
        logger.info("started proxy %s on %s to %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        server, self.server = self.server, None
        if server is not None:
            server.close()
        for connection in list(self.connections):
            connection.close()
        self.connections.clear()
        logger.info("terminated proxy %s", self.name)

    def differs(self, listen: str, upstream: str) -> bool:
        return self.listen != resolve(listen) or self.upstream != upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if self.differs(listen, upstream):
            await self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = writer.get_extra_info("peername")
        try:
            host, port = split_address(self.upstream)
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except (OSError, ApiError) as exc:
            logger.warning(
                "proxy %s: unable to reach upstream %s: %s", self.name, self.upstream, exc
            )
            writer.close()
            return
        if not self.enabled:
            writer.close()
            up_writer.close()
            return
        connection = Connection(writer, up_writer)
        name = f"{client[0]}:{client[1]}" if client else "client"

        def closed(link: Link) -> None:
            if all(link.closed for link in connection.links):
                self.connections.discard(connection)

        chains = {d: [t for t in self.toxics if t.direction == d] for d in (UPSTREAM, DOWNSTREAM)}
        upstream = Link(name, UPSTREAM, reader, up_writer, chains[UPSTREAM], self.rng, closed)
        downstream = Link(name, DOWNSTREAM, up_reader, writer, chains[DOWNSTREAM], self.rng, closed)
        connection.links = [upstream, downstream]
        self.connections.add(connection)
        upstream.start(writer)
        downstream.start(up_writer)

    # Toxics

    def find(self, name: str) -> Toxic | None:
        return next((t for t in self.toxics if t.name == name), None)

    def add_toxic(self, body: bytes) -> Toxic:
        toxic = toxics.parse_new(body, {t.name for t in self.toxics})
        self.toxics.append(toxic)
        for link in self._links(toxic.direction):
            link.add(toxic)
        return toxic

    def update_toxic(self, name: str, body: bytes) -> Toxic:
        toxic = self.find(name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        toxic.update(body)
        for link in self._links(toxic.direction):
            link.update(toxic)
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self.find(name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        self.toxics.remove(toxic)
        for link in self._links(toxic.direction):
            link.remove(toxic)

    def reset_toxics(self) -> None:
        for toxic in list(self.toxics):
            self.remove_toxic(toxic.name)

    def _links(self, direction: str) -> list[Link]:
        return [
            link
            for connection in self.connections
            for link in connection.links
            if link.direction == direction and not link.closed
        ]


class Collection:
    def __init__(self, seed: int | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.rng = random.Random(seed)

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    async def create(self, body: bytes) -> Proxy:
        data = parse_body(body)
        fields = decode_into(data, PROXY_FIELDS, {"enabled": True}, "Proxy")
        if not fields.get("name"):
            raise MISSING_FIELD.joined("name")
        if not fields.get("upstream"):
            raise MISSING_FIELD.joined("upstream")
        if fields["name"] in self.proxies:
            raise PROXY_EXISTS
        proxy = Proxy(fields["name"], fields.get("listen", ""), fields["upstream"], self.rng)
        if fields["enabled"]:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def update(self, name: str, body: bytes) -> Proxy:
        proxy = self.get(name)
        current = {"listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled}
        fields = decode_into(parse_body(body), PROXY_FIELDS, current, "Proxy")
        await proxy.update(fields["listen"], fields["upstream"], fields["enabled"])
        return proxy

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            await proxy.start()
            proxy.reset_toxics()

    async def populate(self, body: bytes) -> tuple[list[Proxy], ApiError | None]:
        """Toxiproxy's populate: validate every entry first, then add or replace
        in order; an identical existing proxy is kept with its toxics."""
        data = parse_body(body)
        if not isinstance(data, list):
            kind = "object" if isinstance(data, dict) else type(data).__name__
            raise BAD_REQUEST_BODY.joined(
                f"json: cannot unmarshal {kind} into Go value of type []struct"
            )
        entries = []
        for index, item in enumerate(data, start=1):
            fields = decode_into(item, PROXY_FIELDS, {"listen": "", "enabled": True}, "Proxy")
            if not fields.get("name"):
                raise MISSING_FIELD.joined(f"name at proxy {index}")
            if not fields.get("upstream"):
                raise MISSING_FIELD.joined(f"upstream at proxy {index}")
            entries.append(fields)
        done: list[Proxy] = []
        for fields in entries:
            try:
                done.append(await self._add_or_replace(fields))
            except ApiError as exc:
                return done, exc
        return done, None

    async def _add_or_replace(self, fields: dict[str, Any]) -> Proxy:
        existing = self.proxies.get(fields["name"])
        if existing is not None:
            if not existing.differs(fields["listen"], fields["upstream"]):
                return existing
            await existing.stop()
        proxy = Proxy(fields["name"], fields["listen"], fields["upstream"], self.rng)
        if fields["enabled"]:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy
