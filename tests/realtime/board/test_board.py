"""The order board at `/` in real Chromium (Debian's, driven by Playwright):
live updates, the connection indicator across a restart, and resume."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from chaos.orders_http import call, visible_versions
from tests.browser import chromium
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.test_resume import write_directly

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).parents[3] / "test-artifacts"


def test_board_shows_updates_live_and_resumes_after_a_restart(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A PATCH shows within 1 s; a restart shows `reconnecting`, then what changed meanwhile."""
    with make_server(tmp_path, "sqlite", "memory", request) as server:
        tokens = seed_tokens(server)
        body = {"items": [{"name": "tea", "qty": 2}], "owner": "alice"}
        status, order = call("POST", f"{server.http}/api/orders/", tokens["staff"], body)
        assert status == 201
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{server.http}/?token={tokens['staff']}")
            page.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
            page.wait_for_selector(f'#order-{order["id"]} td[data-status="pending"]')
            assert page.is_hidden("#login")

            started = time.monotonic()
            url = f"{server.http}/api/orders/{order['id']}/"
            assert call("PATCH", url, tokens["staff"], {"status": "confirmed"})[0] == 200
            page.wait_for_selector(
                f'#order-{order["id"]} td[data-status="confirmed"]', timeout=1000
            )
            patch_to_row_ms = (time.monotonic() - started) * 1000

            server.signal(signal.SIGTERM)
            server.wait(10)
            page.wait_for_selector('#status[data-state="reconnecting"]', timeout=5000)
            assert "reconnecting in" in page.text_content("#status")
            write_directly(server, 1, "alice", 7)
            server.start()
            page.wait_for_selector('#status[data-state="connected"]', timeout=15_000)
            newest = max(visible_versions(server.http, tokens["staff"]))
            page.wait_for_selector(f'#order-{newest} td[data-status="delivered"]', timeout=5000)
            assert page.text_content("#seq") != "-"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)
        print(f"PATCH -> row changed in the browser: {patch_to_row_ms:.0f} ms")


def test_board_assets_are_served_and_others_are_not(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`/` and the board modules are served with their types; other /board/ paths are 404."""
    import urllib.error
    import urllib.request

    with make_server(tmp_path, "sqlite", "memory", request) as server:
        with urllib.request.urlopen(f"{server.http}/", timeout=5) as page:
            assert page.headers["Content-Type"].startswith("text/html")
            assert b'<script type="module" src="/board/board.js">' in page.read()
        with urllib.request.urlopen(f"{server.http}/board/connection.js", timeout=5) as module:
            assert module.headers["Content-Type"] == "text/javascript"
        for path in ("/board/missing.js", "/board/..%2Fviews.py", "/board/views.py"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{server.http}{path}", timeout=5)
            assert refused.value.code == 404


def test_the_board_renews_its_token_and_stays_signed_in(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A board opened with a 4 s token is still connected at 7 s, on a renewed token."""
    with make_server(tmp_path, "sqlite", "memory", request) as server:
        short = server.manage("token", "alice", "--create", "--ttl", "4")
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{server.http}/?token={short}")
            page.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
            # Past the token's expiry: what is under test is that time passing changes nothing.
            page.wait_for_timeout(7000)
            assert page.get_attribute("#status", "data-state") == "connected"
            assert page.is_hidden("#login")
            renewed = page.evaluate("sessionStorage.getItem('token')")
            assert renewed != short
        assert "code=4401" not in server.log_text()
