"""An open board or member page whose session ends (reset, role change, expiry) goes to the sign-in page, with
the way back, instead of reconnecting its socket in a loop."""

from __future__ import annotations

import re

import pytest
from helpers import PASSWORD, auth, create_member, user_token

from e2e.browser import login


def _uid(api, token: str) -> int:
    return api.get("/api/auth/me", headers=auth(token)).json()["id"]


def test_the_board_and_the_member_page_sign_in_again_when_their_session_is_revoked(api, pages, shots):
    admin = user_token(api, "admin", "root")
    op = user_token(api, "operator", "op")
    m = create_member(api, admin, level="district", lat=33.3, lon=120.1)
    mem = user_token(api, "member", "mem", member_id=m["id"])

    wall = pages()
    login(wall, "op", PASSWORD, "/board")
    wall.locator("#live-status.online").wait_for()
    phone = pages(mobile=True)
    login(phone, "mem", PASSWORD, "/m")
    phone.locator("#live-state:not(.off)").wait_for()
    phone.wait_for_function("document.getElementById('live-state').textContent.length > 0")

    res = api.patch(f"/api/users/{_uid(api, op)}", json={"role": "supervisor"}, headers=auth(admin))
    assert res.status_code == 200
    res = api.patch(f"/api/users/{_uid(api, mem)}", json={"password": "fresh-river-stone-4"}, headers=auth(admin))
    assert res.status_code == 200
    wall.wait_for_url(re.compile(r"/login\?next=%2Fboard$"), timeout=15_000)
    phone.wait_for_url(re.compile(r"/login\?next=%2Fm$"), timeout=15_000)
    shots(phone, "member-signed-out")
    # signing in again returns to the page
    login(wall, "op", PASSWORD, "/board")
    wall.locator("#live-status.online").wait_for()


@pytest.mark.settings(token_ttl_s=5)
def test_the_board_signs_in_again_when_its_session_expires(api, pages):
    user_token(api, "operator", "op")
    wall = pages()
    login(wall, "op", PASSWORD, "/board")
    wall.locator("#live-status.online").wait_for()
    wall.wait_for_url(re.compile(r"/login\?next=%2Fboard$"), timeout=20_000)
