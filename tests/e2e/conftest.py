"""Browser tests: Debian's Chromium driven by Playwright against the live test server.

Screenshots go to tests/artifacts/ (git-ignored). Chromium runs headless with the flags this machine needs
(no sandbox as root, no background networking: the network is closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import auth, create_member, point_token, user_token

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


@pytest.fixture
def every_role(api) -> dict:
    """Accounts adm (admin), op, sup, wang (a member), a point's QR token and a case, for tests that visit
    every page."""
    adm = user_token(api, "admin", "adm")
    user_token(api, "operator", "op")
    user_token(api, "supervisor", "sup")
    member = create_member(api, adm, name="王委员", level="district", lat=33.35, lon=120.15)
    user_token(api, "member", "wang", member_id=member["id"])
    case = api.post(
        "/api/cases", json={"content": "来电：路灯不亮", "lat": 33.3, "lon": 120.1}, headers=auth(adm)
    ).json()
    return {"admin": adm, "qr": point_token(api, adm), "case": case}
