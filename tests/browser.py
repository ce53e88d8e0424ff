"""Debian's chromium, driven by Playwright, as every browser test launches it
(`playwright install` cannot download here); BROWSER_EXECUTABLE names another
Chromium-based browser, as CI does with the Google Chrome of GitHub's runners."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("BROWSER_EXECUTABLE", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install chromium (README, prerequisites), "
            "or set BROWSER_EXECUTABLE"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
