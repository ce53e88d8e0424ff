"""What an ASGI scope says of who is connecting: the token from the query
string or the Authorization header, the query, and whether the browser
Origin is one of ours."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.http.request import validate_host


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"")
    decoded = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    return {k: v[-1] for k, v in parse_qs(decoded, keep_blank_values=True).items()}


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def token_from_scope(scope: dict[str, Any]) -> str:
    """The query `token` wins; `Authorization: Bearer` serves non-browser clients."""
    token = query_params(scope).get("token", "")
    if token:
        return token
    authorization = header(scope, b"authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return ""


def origin_allowed(scope: dict[str, Any], allowed_hosts: list[str]) -> bool:
    """No Origin (a script) is allowed; a browser's must name one of ALLOWED_HOSTS."""
    origin = header(scope, b"origin")
    if origin is None:
        return True
    host = urlsplit(origin).hostname
    if not host:
        return False
    if ":" in host:
        host = f"[{host}]"
    return validate_host(host, allowed_hosts)


def with_bearer(scope: dict[str, Any], token: str) -> dict[str, Any]:
    """`scope` as if it had connected with `token` as its bearer token."""
    headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"authorization"]
    headers.append((b"authorization", b"Bearer " + token.encode("latin-1", "replace")))
    query = {k: v for k, v in query_params(scope).items() if k != "token"}
    return {**scope, "headers": headers, "query_string": urlencode(query).encode()}


def proxies(setting: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """TRUSTED_PROXIES as networks; a bare address is a network of one."""
    return tuple(
        ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()
    )


def client_address(peer: str, forwarded_for: str | None, trusted: str) -> str:
    """Who is asking: the peer, or, when the peer is a trusted proxy, the
    nearest address in X-Forwarded-For that is not one (read from the right,
    since a client may write anything on the left)."""
    networks = proxies(trusted)
    if not networks or not forwarded_for or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        parsed = ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def scope_address(scope: dict[str, Any], trusted: str) -> str:
    """The client address of an ASGI scope, as `client_address` reads it."""
    client = scope.get("client")
    peer = str(client[0]) if client else "-"
    return client_address(peer, header(scope, b"x-forwarded-for"), trusted)
