"""The orders server's HTTP side as the harness and the tests use it: JSON
calls, what a token may see, and one metric from /metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

PAGE = 500


def call(method: str, url: str, token: str | None = None, body: object = None) -> tuple[int, Any]:
    """(status, decoded JSON) for one request; a non-JSON error body comes back as text."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"{}")
        except ValueError:
            return error.code, {"not_json": raw[:200].decode(errors="replace")}


async def acall(
    method: str, url: str, token: str | None = None, body: object = None
) -> tuple[int, Any]:
    return await asyncio.to_thread(call, method, url, token, body)


def new_order(base: str, token: str) -> int:
    """The id of a new one-tea order for the token's user."""
    status, order = call(
        "POST", f"{base}/api/orders/", token, {"items": [{"name": "tea", "qty": 1}]}
    )
    if status != 201:
        raise RuntimeError(f"POST /api/orders/ answered {status}: {order}")
    return int(order["id"])


def visible_versions(base: str, token: str) -> dict[int, int]:
    """Every order the token may see, with its version."""
    versions: dict[int, int] = {}
    after = 0
    for _ in range(10_000):
        status, page = call("GET", f"{base}/api/orders/?limit={PAGE}&after_id={after}", token)
        if status != 200 or not isinstance(page, list):
            raise RuntimeError(f"GET /api/orders/ answered {status}: {page}")
        versions.update({int(o["id"]): int(o["version"]) for o in page})
        if len(page) < PAGE:
            return versions
        after = int(page[-1]["id"])
    raise RuntimeError("too many pages of orders")


def visible_events(base: str, token: str, since: int = 0) -> list[tuple[int, int, int]]:
    """(seq, order id, version) of every event the token may see after `since`."""
    events: list[tuple[int, int, int]] = []
    for _ in range(10_000):
        status, body = call("GET", f"{base}/api/events/?since={since}&limit={PAGE}", token)
        if status != 200:
            raise RuntimeError(f"GET /api/events/ answered {status}: {body}")
        page = body["events"]
        events.extend((e["seq"], e["order"]["id"], e["order"]["version"]) for e in page)
        if not body.get("more"):
            return events
        since = page[-1]["seq"]
    raise RuntimeError("too many pages of events")


def metric(base: str, name: str, **labels: str) -> float:
    """One sample from /metrics, summed over the series that carry `labels`."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            series = line.rsplit(" ", 1)
            if all(label in series[0] for label in wanted):
                total += float(series[1])
    return total
