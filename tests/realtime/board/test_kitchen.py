"""The kitchen display (`kitchen.js`) in Chromium against a real server: clicks
move orders and reach the customer's tracker, cancelling asks first, a
conflict is said on the card, new orders stand out, search filters."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, WebSocketRoute

from tests.realtime.board.conftest import ARTIFACTS, PHONE, Board, open_board, shown

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(180)]

STEPS = ("confirmed", "preparing", "ready", "delivered")


def test_each_click_reaches_the_customer_tracker_within_a_second(
    board: Board, browser: Browser
) -> None:
    """Five orders clicked through every status; each step shows on the tracker within 1 s."""
    kitchen = open_board(browser, board.url("staff"))
    customer = open_board(browser, board.url("alice"), PHONE)
    orders = [board.order("alice", f"soup {n}")["id"] for n in range(5)]
    for order_id in orders:
        kitchen.wait_for_selector(f'[data-column="pending"] {shown(order_id)}')
        customer.wait_for_selector(shown(order_id, "pending"))
    timings = []
    for order_id in orders:
        for step in STEPS:
            button = kitchen.locator(shown(order_id)).get_by_role("button", name=f"Mark {step}")
            started = time.monotonic()
            button.click()
            customer.wait_for_selector(shown(order_id, step), timeout=1000)
            timings.append((time.monotonic() - started) * 1000)
            placed = f'[data-column="{step}"] {shown(order_id, step)}'
            kitchen.wait_for_selector(placed, state="attached")
    assert len(timings) == 20
    ARTIFACTS.mkdir(exist_ok=True)
    figures = {"median_ms": statistics.median(timings), "max_ms": max(timings), "ms": timings}
    (ARTIFACTS / "click-to-tracker.json").write_text(json.dumps(figures, indent=2))
    print(f"click -> customer's tracker: median {figures['median_ms']:.0f} ms of 20")
    steps = customer.locator(f"{shown(orders[0])} .steps li.done")
    assert steps.count() == 5


def test_the_advance_button_works_from_the_keyboard_and_keeps_focus(
    board: Board, browser: Browser
) -> None:
    """Enter on "Mark confirmed" advances the order; focus lands on "Mark preparing"."""
    order_id = board.order("bob", "bagel")["id"]
    kitchen = open_board(browser, board.url("staff"))
    kitchen.locator(shown(order_id)).get_by_role("button", name="Mark confirmed").focus()
    kitchen.keyboard.press("Enter")
    kitchen.wait_for_selector(f'[data-column="confirmed"] {shown(order_id, "confirmed")}')
    # The pushed update can move the card before the PATCH answers; focus follows the answer.
    expected = f"Mark preparing, order {order_id}"
    kitchen.wait_for_function(
        "label => document.activeElement?.getAttribute('aria-label') === label", arg=expected
    )
    focused = kitchen.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == expected


def test_cancelling_asks_first(board: Board, browser: Browser) -> None:
    """ "Cancel" asks; "Keep" changes nothing; "Yes, cancel" moves the card to Cancelled."""
    order_id = board.order("alice", "cake")["id"]
    kitchen = open_board(browser, board.url("staff"))
    entry = kitchen.locator(shown(order_id))
    entry.get_by_role("button", name=f"Cancel order {order_id}").click()
    assert entry.get_by_text(f"Cancel order {order_id}?").is_visible()
    entry.get_by_role("button", name="Keep").click()
    assert entry.get_attribute("data-status") == "pending"
    entry.get_by_role("button", name=f"Cancel order {order_id}").click()
    entry.get_by_role("button", name="Yes, cancel").click()
    kitchen.wait_for_selector(
        f'[data-column="cancelled"] {shown(order_id, "cancelled")}', state="attached"
    )


def test_a_conflict_is_said_on_the_card(board: Board, browser: Browser) -> None:
    """A click on a card whose update is still on its way answers 409, said on that card."""
    order_id = board.order("alice", "pie")["id"]
    kitchen = browser.new_context().new_page()
    held: list[str | bytes] = []
    holding = {"on": False}
    routes: list[WebSocketRoute] = []

    def late(route: WebSocketRoute) -> None:
        # The kitchen's frames arrive late, as on a slow link: the test decides when.
        server = route.connect_to_server()
        routes.append(route)

        def down(message: str | bytes) -> None:
            if holding["on"]:
                held.append(message)
            else:
                route.send(message)

        server.on_message(down)

    kitchen.route_web_socket("**/ws/orders/**", late)
    kitchen.goto(board.url("staff"))
    kitchen.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
    kitchen.wait_for_selector(shown(order_id, "pending"))
    holding["on"] = True
    board.change(order_id, "cancelled")
    entry = kitchen.locator(shown(order_id))
    entry.get_by_role("button", name="Mark confirmed").click()
    problem = entry.locator(".problem")
    problem.wait_for(timeout=5000)
    assert problem.text_content() == "Not changed: this order is already cancelled."
    for _ in range(1000):
        if not held:
            break
        routes[-1].send(held.pop(0))
    holding["on"] = False
    kitchen.wait_for_selector(
        f'[data-column="cancelled"] {shown(order_id, "cancelled")}', state="attached"
    )
    assert "already cancelled" in (entry.locator(".problem").text_content() or "")


def test_a_new_order_stands_out_and_search_filters(board: Board, browser: Browser) -> None:
    """A new order is highlighted and announced; search by id or customer hides the rest."""
    kitchen = open_board(browser, board.url("staff"))
    fresh: dict[str, Any] = board.order("bob", "waffle")
    kitchen.wait_for_selector(f"{shown(fresh['id'])}.new")
    assert kitchen.text_content("#announce") == f"New order {fresh['id']} from bob."
    other = board.order("alice", "toast")["id"]
    kitchen.wait_for_selector(shown(other))

    kitchen.fill("#search", str(fresh["id"]))
    assert kitchen.is_visible(shown(fresh["id"]))
    assert kitchen.is_hidden(shown(other))
    kitchen.fill("#search", "ALI")
    assert kitchen.is_hidden(shown(fresh["id"]))
    assert kitchen.is_visible(shown(other))
    kitchen.fill("#search", "")
    assert kitchen.is_visible(shown(fresh["id"]))
    assert kitchen.is_visible(shown(other))
