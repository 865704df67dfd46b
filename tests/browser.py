"""Headless Chromium for the page tests: Debian's browser, one per test module.

The console and site page tests import ``browser`` and ``page`` from here as fixtures,
and log in through the one login form both pages share (``auth.js``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

__all__ = ["CHROMIUM", "browser", "log_in", "page"]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh context per test; its last picture is kept in the test's folder."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        yield pg
    finally:
        pg.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        context.close()


def log_in(page: Page, url: str, user: str, password: str, *, view: str, ready: str) -> None:
    """Log in with the shared form and wait for ``#view`` and the page's ``ready`` test."""
    page.goto(url)
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.wait_for_selector(f"#{view}", state="visible", timeout=5000)
    page.wait_for_function(f"() => {ready}", timeout=5000)
