"""The board where WebSockets are refused (`connection.js`, `stream.js`): behind a
proxy that answers 403 to every upgrade, both views move to Server-Sent Events,
say so on the pill, and the kitchen's clicks reach the customer's phone."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page

from realtime.testing.proxies import UpgradeRefusingProxy
from tests.realtime.board.conftest import PHONE, Board, shown

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(180)]

STEPS = ("confirmed", "preparing", "ready", "delivered")


def open_streaming(browser: Browser, url: str, viewport: dict[str, int] | None = None) -> Page:
    context = browser.new_context(viewport=viewport) if viewport else browser.new_context()  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector('#status[data-state="connected"][data-transport="sse"]', timeout=20_000)
    return page


def test_the_kitchens_clicks_reach_the_phone_over_the_event_stream(
    board: Board, browser: Browser
) -> None:
    """Two refused handshakes, then the stream: each click shows on the tracker within 1 s."""
    with UpgradeRefusingProxy(board.server.port) as proxy:
        kitchen = open_streaming(browser, f"{proxy.http}/?token={board.tokens['staff']}")
        customer = open_streaming(browser, f"{proxy.http}/?token={board.tokens['alice']}", PHONE)
        assert (kitchen.text_content("#status") or "").endswith("(event stream)")
        assert proxy.refused >= 4
        order_id = board.order("alice", "stew")["id"]
        kitchen.wait_for_selector(f'[data-column="pending"] {shown(order_id)}')
        customer.wait_for_selector(shown(order_id, "pending"))
        for step in STEPS:
            button = kitchen.locator(shown(order_id)).get_by_role("button", name=f"Mark {step}")
            started = time.monotonic()
            button.click()
            customer.wait_for_selector(shown(order_id, step), timeout=1000)
            assert time.monotonic() - started < 1.0
        # No WebSocket was ever opened: every handshake went to the proxy and was refused.
        refused = proxy.refused
        customer.reload()
        customer.wait_for_selector('#status[data-transport="sse"]', timeout=20_000)
        assert proxy.refused == refused + 2
        kitchen.context.close()
        customer.context.close()
