"""One server with demo users and one Chromium for the board tests of a module,
and the helpers they share to open the board and make orders."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from realtime.testing.api import call
from realtime.testing.processes import Daphne
from tests.browser import chromium
from tests.integration.conftest import make_server, seed_tokens

ARTIFACTS = Path(__file__).parents[3] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclasses.dataclass
class Board:
    server: Daphne
    tokens: dict[str, str]

    def url(self, who: str) -> str:
        return f"{self.server.http}/?token={self.tokens[who]}"

    def order(self, owner: str, *names: str) -> dict[str, Any]:
        """A new order for `owner`, made by staff through the API."""
        items = [{"name": name, "qty": 1} for name in names or ("tea",)]
        status, order = call(
            "POST",
            f"{self.server.http}/api/orders/",
            self.tokens["staff"],
            {"items": items, "owner": owner},
        )
        assert status == 201, order
        return dict(order)

    def change(self, order_id: int, status: str) -> None:
        url = f"{self.server.http}/api/orders/{order_id}/"
        reply = call("PATCH", url, self.tokens["staff"], {"status": status})
        assert reply[0] == 200, reply


@pytest.fixture(scope="module")
def board(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Board]:
    with make_server(tmp_path_factory.mktemp("board"), "sqlite", "memory", request) as server:
        server.manage("demo")
        yield Board(server, seed_tokens(server))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def open_board(
    browser: Browser, url: str, viewport: dict[str, int] = DESKTOP, **context: Any
) -> Page:
    """A page in a context of its own (its own session storage), connected."""
    page = browser.new_context(viewport=viewport, **context).new_page()  # type: ignore[arg-type]
    page.goto(url)
    page.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
    return page


def shown(order_id: int, status: str | None = None) -> str:
    """The selector of an order's element (card or tracker entry), in its status if given."""
    return f'[data-order-id="{order_id}"]' + (f'[data-status="{status}"]' if status else "")
