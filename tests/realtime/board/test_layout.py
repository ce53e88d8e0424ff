"""The board's layout (`board.css`) at 1280x800 and 390x844, in light and
dark: long item names wrap inside their card with no horizontal scroll, the
phone shows the items, and both views are saved to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.realtime.board.conftest import ARTIFACTS, DESKTOP, PHONE, Board, open_board, shown

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]

SPACED = "Large oat milk flat white, extra hot, with a pinch of cinnamon"[:60]
LONG = (SPACED, ("Pistachio" * 7)[:60])


def overflow(page: Page, selector: str) -> list[str]:
    """What sticks out: the page wider than the window, or an element past its box."""
    return list(
        page.evaluate(
            """selector => {
                const out = [];
                const root = document.documentElement;
                if (root.scrollWidth > root.clientWidth) out.push(`page ${root.scrollWidth}px`);
                for (const item of document.querySelectorAll(selector)) {
                    const box = item.getBoundingClientRect();
                    const name = item.textContent;
                    if (item.scrollWidth > item.clientWidth) out.push(`${name} overflows`);
                    if (box.right > root.clientWidth) out.push(`${name} ends at ${box.right}px`);
                }
                return out;
            }""",
            selector,
        )
    )


@pytest.mark.parametrize(("size", "viewport"), [("1280x800", DESKTOP), ("390x844", PHONE)])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_long_item_names_wrap_in_both_views(
    board: Board, browser: Browser, size: str, viewport: dict[str, int], scheme: str
) -> None:
    """Two 60-character item names (one with no spaces) wrap; nothing scrolls sideways."""
    assert all(len(name) == 60 for name in LONG)
    order_id = board.order("alice", *LONG)["id"]
    for who, view in (("staff", "kitchen"), ("alice", "tracker")):
        page = open_board(browser, board.url(who), viewport, color_scheme=scheme)
        items = f"{shown(order_id)} .items li"
        page.wait_for_selector(items)
        assert page.locator(items).count() == 2
        for item in page.locator(items).all():
            assert item.is_visible()
            assert item.bounding_box()["width"] <= viewport["width"]  # type: ignore[index]
        assert overflow(page, items) == []
        line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
        tallest = max(item.bounding_box()["height"] for item in page.locator(items).all())  # type: ignore[index]
        if size == "390x844" or view == "kitchen":
            assert tallest > 1.5 * line, "a 60-character name fits one line of a narrow card?"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{view}-{size}-{scheme}.png"), full_page=True)
        page.context.close()


@pytest.mark.parametrize("width", [320, 390])
def test_the_trackers_step_labels_never_break_inside_a_word(
    board: Board, browser: Browser, width: int
) -> None:
    """On a phone every step label ("Delivered" too) is one line inside its column."""
    order_id = board.order("alice", "tea")["id"]
    page = open_board(browser, board.url("alice"), {"width": width, "height": 844})
    steps = f"{shown(order_id)} .steps li"
    page.wait_for_selector(steps)
    lines = page.evaluate(
        """selector => [...document.querySelectorAll(selector)].map(item => {
            const range = document.createRange();
            range.selectNodeContents(item);
            return [item.textContent, range.getClientRects().length];
        })""",
        steps,
    )
    assert [label for label, _ in lines][-1] == "Delivered"
    assert all(count == 1 for _, count in lines), lines
    assert overflow(page, steps) == []
    page.context.close()
