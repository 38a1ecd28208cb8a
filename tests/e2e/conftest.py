"""Browser tests: Debian's Chromium driven by Playwright against the live test server.

Screenshots go to tests/artifacts/ (git-ignored). Chromium runs headless with the flags this machine needs
(no sandbox as root, no background networking: the network is closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.browser import ARGS, CHROMIUM, Shots, new_page


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/provision (make test does)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def shots(request) -> Shots:
    return Shots(request.node.name)


@pytest.fixture
def pages(browser, server) -> Iterator:
    """Open pages; all contexts are closed at the end of the test."""
    opened = []

    def _open(**kw):
        page = new_page(browser, server, **kw)
        opened.append(page)
        return page

    yield _open
    for page in opened:
        page.context.close()
