"""Every page passes axe-core's rules for labels, accessible names and WCAG AA contrast, in both languages,
and the basics work by keyboard."""

from __future__ import annotations

import pytest
from helpers import PASSWORD, api_key, auth, create_member, user_token
from playwright.sync_api import expect

from e2e.a11y import violations
from e2e.browser import login


def _check(page, label: str) -> None:
    found = violations(page)
    page.locator("#lang-switch").click()
    found += [f"[en] {v}" for v in violations(page)]
    page.locator("#lang-switch").click()
    assert found == [], f"{label}: " + "\n".join(found)


def test_login_page_is_accessible_and_works_by_keyboard(api, pages):
    user_token(api, "operator", "op")
    page = pages()
    page.goto("/login?next=/board")
    _check(page, "login")
    page.focus("#username")
    page.keyboard.type("op")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/board")


@pytest.fixture
def world(api):
    """A point, a member near it, an offered case with a photo, and accounts of every role."""
    op = user_token(api, "operator", "op")
    user_token(api, "supervisor", "sup")
    user_token(api, "admin", "adm")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[120]
    point = api.post(
        "/api/points",
        headers=auth(op),
        json={"name": "社情民意联系点", "kind": "opinion_point", "village_code": v["code"]},
    ).json()
    m = create_member(api, op, name="周委员", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    user_token(api, "member", "zhou", member_id=m["id"])
    case = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": api_key()},
        json={
            "external_id": "a11y-1",
            "content": "小区垃圾清运不及时",
            "category": "城乡建设",
            "caller_phone": "13912345678",
            "lat": v["lat"],
            "lon": v["lon"],
        },
    ).json()
    qr = api.post(f"/api/intake/qr/{point['qr_token']}", data={"content": "路面积水", "category": "城乡建设"}).json()
    return {"point": point, "case": case, "qr": qr}


def test_staff_pages_are_accessible(world, pages):
    board = pages()
    login(board, "op", PASSWORD, "/board")
    card = board.locator(f"#queue-offered [data-case-id='{world['case']['id']}']")
    expect(card).to_be_visible()
    _check(board, "board")
    card.focus()  # the drawer opens from the keyboard and closes with Esc
    board.keyboard.press("Enter")
    drawer = board.get_by_role("dialog")
    expect(drawer).to_be_visible()
    _check(board, "board with drawer")
    board.keyboard.press("Escape")
    expect(drawer).to_be_hidden()

    for username, path in (("sup", "/inspect"), ("adm", "/admin")):
        page = pages()
        login(page, username, PASSWORD, path)
        expect(page.locator("main")).to_be_visible()
        _check(page, path)


def test_phone_pages_are_accessible(world, pages):
    member = pages(mobile=True)
    login(member, "zhou", PASSWORD, "/m")
    expect(member.locator(f"#offers [data-case-id='{world['case']['id']}']")).to_be_visible()
    _check(member, "member")

    resident = pages(mobile=True)
    resident.goto(f"/q/{world['point']['qr_token']}")
    _check(resident, "qr form")
    resident.goto(f"/t/{world['qr']['tracking_no']}#s={world['qr']['secret']}")
    expect(resident.locator("#status")).to_be_visible()
    _check(resident, "tracking")
