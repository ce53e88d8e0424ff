"""axe-core (through axe-playwright-python) on every screen of the board, in
light and dark: the sign-in form, the kitchen display and the order tracker
report no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.realtime.board.conftest import DESKTOP, PHONE, Board, open_board, shown

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]

GRAVE = {"serious", "critical"}


def grave_violations(page: Page) -> list[str]:
    violations: list[dict[str, Any]] = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in violations
        if v["impact"] in GRAVE
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_violation_on_any_screen(board: Board, browser: Browser, scheme: str) -> None:
    """Signed out, kitchen (with a confirmation open and a delivered order) and tracker pass axe."""
    order_id = board.order("alice", "scone")["id"]
    done = board.order("alice", "jam")["id"]
    for step in ("confirmed", "preparing", "ready", "delivered"):
        board.change(done, step)

    signed_out = browser.new_context(color_scheme=scheme).new_page()
    signed_out.goto(f"{board.server.http}/")
    signed_out.wait_for_selector("#login")
    assert grave_violations(signed_out) == []

    kitchen = open_board(browser, board.url("staff"), DESKTOP, color_scheme=scheme)
    kitchen.wait_for_selector(shown(order_id, "pending"))
    kitchen.click('[data-column="delivered"] summary')
    kitchen.wait_for_selector(shown(done, "delivered"))
    kitchen.locator(shown(order_id)).get_by_role("button", name=f"Cancel order {order_id}").click()
    assert grave_violations(kitchen) == []

    tracker = open_board(browser, board.url("alice"), PHONE, color_scheme=scheme)
    tracker.wait_for_selector(shown(done, "delivered"))
    assert grave_violations(tracker) == []
