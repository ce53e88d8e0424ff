"""The order board at `/` (`board.js`) in real Chromium (Debian's, driven by
Playwright): sign-in, the connection pill across a restart, resume, kiosks,
token renewal and what is served."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import jwt
import pytest

from realtime.auth.tokens import ALGORITHM
from realtime.testing.api import call, visible_versions
from realtime.testing.processes import SECRET_KEY
from tests.browser import chromium
from tests.integration.conftest import make_server, seed_tokens
from tests.integration.test_resume import write_directly
from tests.realtime.board.conftest import PHONE, Board, open_board, shown

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_restart_shows_reconnecting_then_what_changed_meanwhile(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Stopped: "reconnecting in N s"; restarted: what was written meanwhile shows, none missed."""
    with make_server(tmp_path, "sqlite", "memory", request) as server:
        tokens = seed_tokens(server)
        body = {"items": [{"name": "tea", "qty": 2}], "owner": "alice"}
        status, order = call("POST", f"{server.http}/api/orders/", tokens["staff"], body)
        assert status == 201
        with chromium() as browser:
            kitchen = open_board(browser, f"{server.http}/?token={tokens['staff']}")
            tracker = open_board(browser, f"{server.http}/?token={tokens['alice']}", PHONE)
            for page in (kitchen, tracker):
                page.wait_for_selector(shown(order["id"], "pending"))
                assert page.is_hidden("#login")
                assert page.text_content("#seq") == "1"

            server.signal(signal.SIGTERM)
            server.wait(10)
            for page in (kitchen, tracker):
                page.wait_for_selector('#status[data-state="reconnecting"]', timeout=5000)
                assert re.fullmatch(r"reconnecting in \d+ s", page.text_content("#status") or "")
            write_directly(server, 3, "alice", 7)
            server.start()
            expected = visible_versions(server.http, tokens["alice"])
            statuses = {
                o["id"]: o["status"]
                for o in call("GET", f"{server.http}/api/orders/", tokens["alice"])[1]
            }
            for page in (kitchen, tracker):
                page.wait_for_selector('#status[data-state="connected"]', timeout=15_000)
                for order_id in expected:
                    page.wait_for_selector(shown(order_id, statuses[order_id]), state="attached")
            shown_on_tracker = tracker.eval_on_selector_all(
                "#my-orders [data-order-id]", "items => items.map(i => Number(i.dataset.orderId))"
            )
            assert sorted(shown_on_tracker) == sorted(expected)
            seq = tracker.text_content("#seq")
            assert int(seq or 0) > 1


def test_sign_in_says_why_it_failed(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Signed out until sign-in; a wrong password and a stopped server each say so."""
    with make_server(tmp_path, "sqlite", "memory", request) as server:
        server.manage("demo")
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{server.http}/")
            assert page.text_content("#status") == "signed out"
            assert page.text_content("#seq") == "none yet"
            page.fill("input[name=username]", "kitchen")
            page.fill("input[name=password]", "not-the-password")
            page.click("#login button")
            page.wait_for_selector("#login-error:text('Wrong username or password.')")

            server.signal(signal.SIGTERM)
            server.wait(10)
            page.fill("input[name=password]", "demo-password")
            page.click("#login button")
            page.wait_for_selector("#login-error:text('Cannot reach the server')")

            server.start()
            page.click("#login button")
            page.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
            assert page.is_visible("#kitchen")
            assert page.text_content("h1") == "Kitchen"
            page.click("#sign-out")
            page.wait_for_selector("#login")
            assert page.text_content("#status") == "signed out"
            assert page.evaluate("sessionStorage.getItem('token')") is None


def test_a_kiosk_signs_in_from_the_address_and_drops_the_token_from_it(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`/?token=JWT` opens the customer's tracker and leaves `/` in the address bar."""
    with make_server(tmp_path, "sqlite", "memory", request) as server:
        tokens = seed_tokens(server)
        with chromium() as browser:
            page = open_board(browser, f"{server.http}/?token={tokens['bob']}", PHONE)
            assert page.url == f"{server.http}/"
            assert page.is_visible("#tracker")
            assert page.text_content("h1") == "Orders for bob"
            assert page.is_visible("#no-orders")


def test_a_link_whose_token_is_not_valid_says_so_and_nothing_is_missing(board: Board) -> None:
    """`/?token=` with garbage, a forged or an expired token: the sign-in form says
    which, not "session has ended"; no request the page makes is a 404 (favicon)."""
    claims = jwt.decode(board.tokens["alice"], options={"verify_signature": False})
    links = {
        "garbage": "This link's token is not valid: sign in.",
        jwt.encode(claims, "some-other-key-0123456789abcdef-0123", ALGORITHM): (
            "This link's token is not valid: sign in."
        ),
        jwt.encode({**claims, "exp": int(time.time()) - 5}, SECRET_KEY, ALGORITHM): (
            "This link's token has expired: sign in."
        ),
    }
    # Its own browser: this module's other tests start theirs, one at a time.
    with chromium() as browser:
        for token, said in links.items():
            page = browser.new_page()
            missing: list[str] = []
            page.on("response", lambda r, seen=missing: r.status >= 400 and seen.append(r.url))
            page.goto(f"{board.server.http}/?token={token}")
            page.wait_for_selector("#login:not([hidden])", timeout=10_000)
            page.wait_for_function("document.querySelector('#login-error').textContent !== ''")
            assert page.text_content("#login-error") == said
            assert missing == []
            page.close()


def test_the_page_keeps_its_token_to_itself_and_cannot_be_framed(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """CSP, frame-ancestors and no-referrer; no URL or Referer after the page holds the token."""
    with make_server(tmp_path, "sqlite", "memory", request) as server:
        tokens = seed_tokens(server)
        with chromium() as browser:
            page = browser.new_page()
            sockets: list[str] = []
            requests: list[tuple[str, str]] = []
            console: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.on("request", lambda r: requests.append((r.url, r.headers.get("referer", ""))))
            page.on("console", lambda message: console.append(message.text))
            response = page.goto(f"{server.http}/?token={tokens['staff']}")
            page.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
            assert response is not None
            headers = response.headers
            policy = headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy
            assert "script-src 'self'" in policy
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert sockets == [f"{server.ws}?scopes=all"]
            later = requests[1:]
            assert later
            assert all(tokens["staff"] not in url + referer for url, referer in later)
            assert not [line for line in console if "Content Security Policy" in line]

            framing = browser.new_page()
            framing.set_content(f'<iframe src="{server.http}/"></iframe>')
            # Chromium shows its error page in place of a page that refuses framing.
            framed = framing.frames[-1]
            framed.wait_for_url(re.compile("^chrome-error://"), timeout=5_000)
            assert framed.query_selector("#kitchen") is None


def test_board_assets_are_served_and_others_are_not(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`/`, the board modules and its icon are served with their types; other /board/
    paths are 404."""
    import urllib.error
    import urllib.request

    with make_server(tmp_path, "sqlite", "memory", request) as server:
        with urllib.request.urlopen(f"{server.http}/", timeout=5) as page:
            assert page.headers["Content-Type"].startswith("text/html")
            assert b'<script type="module" src="/board/board.js">' in page.read()
        with urllib.request.urlopen(f"{server.http}/board/connection.js", timeout=5) as module:
            assert module.headers["Content-Type"] == "text/javascript"
        for icon in ("/favicon.ico", "/board/favicon.svg"):
            with urllib.request.urlopen(f"{server.http}{icon}", timeout=5) as answer:
                assert answer.headers["Content-Type"] == "image/svg+xml"
        for path in ("/board/missing.js", "/board/..%2Fviews.py", "/board/views.py"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{server.http}{path}", timeout=5)
            assert refused.value.code == 404


def test_the_board_renews_its_token_and_stays_signed_in(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A board opened with a 6 s token is still connected 2 s past its expiry, on a
    renewed token."""
    with make_server(tmp_path, "sqlite", "memory", request) as server, chromium() as browser:
        page = browser.new_page()
        # Made once the browser is up, so that a slow start does not eat the token's life.
        short = server.manage("token", "alice", "--create", "--ttl", "6")
        expires = jwt.decode(short, options={"verify_signature": False})["exp"]
        page.goto(f"{server.http}/?token={short}")
        page.wait_for_selector('#status[data-state="connected"]', timeout=10_000)
        # Past the token's expiry: what is under test is that time passing changes nothing.
        page.wait_for_timeout(max(0.0, expires + 2 - time.time()) * 1000)
        assert page.get_attribute("#status", "data-state") == "connected"
        assert page.is_hidden("#login")
        renewed = page.evaluate("sessionStorage.getItem('token')")
        assert renewed != short
        assert "code=4401" not in server.log_text()
