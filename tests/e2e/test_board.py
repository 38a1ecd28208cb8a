"""The operators' live board on a wall screen: cases arrive live, the drawer, manual assignment, alarms, roles."""

from __future__ import annotations

import re

from helpers import PASSWORD, api_key, auth, create_member, user_token
from playwright.sync_api import expect

from e2e.browser import login

CATEGORY = "城乡建设/城市建设和市政管理/城市公共设施"


def _villages(api, token: str) -> tuple[dict, dict]:
    """Two villages in different towns."""
    villages = api.get("/api/regions?level=village", headers=auth(token)).json()
    first = villages[0]
    other = next(v for v in villages if v["parent_code"] != first["parent_code"])
    return first, other


def _hotline(api, key: str, external_id: str, village: dict, content: str) -> dict:
    body = {
        "external_id": external_id,
        "caller_name": "王女士",
        "caller_phone": "13800001234",
        "lat": village["lat"],
        "lon": village["lon"],
        "content": content,
        "category": CATEGORY,
    }
    res = api.post("/api/intake/hotline", json=body, headers={"X-API-Key": key})
    assert res.status_code == 201, res.text
    return res.json()


def test_board_shows_cases_live_and_lets_the_operator_assign(api, pages, shots):
    op = user_token(api, "operator", "op-board")
    user_token(api, "supervisor", "sup-board")
    near, lonely = _villages(api, op)
    create_member(api, op, name="张委员", town_code=near["parent_code"], lat=near["lat"] + 0.001, lon=near["lon"])
    key = api_key("hotline")

    page = pages()
    login(page, "op-board", PASSWORD, "/board")
    expect(page.locator("#live-status")).to_have_text("实时连接")
    expect(page.locator("#map")).to_have_attribute("role", "region")
    expect(page.locator("#map .town-label").first).to_be_visible()
    expect(page.locator("#map .town-label")).to_have_count(16)
    expect(page.locator("#map .member-icon.free")).to_have_count(1)

    # 1. A hotline case near the member: offered, a card and a marker appear without a reload.
    first = _hotline(api, key, "12345-board-001", near, "小区路灯不亮，晚上出行不便")
    card = page.locator(f'#queue-offered [data-case-id="{first["id"]}"]')
    expect(card).to_be_visible(timeout=2000)
    expect(page.locator("#map .leaflet-cases-pane canvas")).to_be_visible()  # the markers' canvas
    # the markers as a list, as the keyboard reaches them: the case is on the map with its state
    page.locator("#map-list").focus()
    expect(page.locator("#map-list")).to_have_text("以列表查看地图上的 1 件案件")
    page.keyboard.press("Enter")
    item = page.locator(f'#map-cases [data-case-id="{first["id"]}"]')
    expect(item).to_be_focused()
    expect(item).to_contain_text(f"{first['tracking_no']} 已派待签")
    page.keyboard.press("Shift+Tab")  # focus leaves the list: it is dropped
    expect(page.locator("#map-cases li")).to_have_count(0)
    expect(card).to_contain_text(first["tracking_no"])
    expect(card).to_contain_text(re.compile(r"签收剩余 \d+:\d\d"))
    expect(page.locator("#count-offered")).to_have_text("1")
    expect(page.locator("#kpi-total")).to_have_text("1", timeout=8000)
    shots(page, "offered-card")

    # 2. The card opens the drawer with the timeline and the candidate list; Esc closes it.
    card.click()
    drawer = page.get_by_role("dialog")
    expect(drawer).to_be_visible()
    expect(drawer.locator("#drawer-title")).to_have_text(first["tracking_no"])
    expect(drawer.locator("#drawer-title")).to_be_focused()
    expect(drawer.locator("#timeline li").first).to_be_visible()
    expect(drawer).to_contain_text("小区路灯不亮")
    expect(drawer).to_contain_text("王女士")  # the phone as the API gives it to this role
    expect(drawer.locator("#candidates li")).to_have_count(1)
    expect(drawer.locator("#candidates")).to_contain_text("张委员")
    shots(page, "drawer")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(card).to_be_focused()

    # 3. A case where nobody is eligible: escalated into queue-new with the alert banner.
    second = _hotline(api, key, "12345-board-002", lonely, "河道有人倾倒垃圾")
    card2 = page.locator(f'#queue-new [data-case-id="{second["id"]}"]')
    expect(card2).to_be_visible(timeout=2000)
    banner = page.get_by_role("alert")
    expect(banner).to_be_visible(timeout=2000)
    expect(banner).to_contain_text(second["tracking_no"])
    expect(card2).to_contain_text("待人工派单")
    shots(page, "escalated-alert")

    # 4. A member comes on duty there; the operator assigns from the drawer (keyboard opens it).
    create_member(api, op, name="李委员", town_code=lonely["parent_code"], lat=lonely["lat"], lon=lonely["lon"] + 0.002)
    card2.focus()
    page.keyboard.press("Enter")
    expect(drawer).to_be_visible()
    assign = drawer.get_by_role("button", name="指派给 李委员")
    expect(assign).to_be_visible()
    assign.click()
    expect(drawer.locator("#assign-msg")).to_have_text("已指派给 李委员")
    expect(page.locator(f'#queue-active [data-case-id="{second["id"]}"]')).to_be_visible(timeout=2000)
    expect(page.locator(f'#queue-new [data-case-id="{second["id"]}"]')).to_have_count(0)
    expect(page.locator("#count-active")).to_have_text("1")
    shots(page, "assigned")
    drawer.get_by_role("button", name="关闭").click()
    expect(drawer).to_be_hidden()

    # 5. English: the column headings, the live indicator and the sound toggle's name change.
    page.locator("#lang-switch").click()
    expect(page.locator("#h-new")).to_contain_text("To dispatch")
    expect(page.locator("#h-offered")).to_contain_text("Offered")
    expect(page.locator("#h-active")).to_contain_text("In progress")
    expect(page.locator("#h-overdue")).to_contain_text("Overdue")
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(banner).to_contain_text("Escalated: needs a dispatcher")
    expect(card).to_contain_text(re.compile(r"Accept within \d+:\d\d"))
    sound = page.get_by_role("button", name="Sound alerts")
    expect(sound).to_have_attribute("aria-pressed", "false")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    shots(page, "english")

    # 6. A supervisor sees the board and the drawer, but no assignment controls.
    sup = pages()
    login(sup, "sup-board", PASSWORD, "/board")
    sup_card = sup.locator(f'#queue-offered [data-case-id="{first["id"]}"]')
    expect(sup_card).to_be_visible()
    sup_card.click()
    expect(sup.get_by_role("dialog").locator("#timeline li").first).to_be_visible()
    expect(sup.locator("button.assign")).to_have_count(0)
    expect(sup.locator("#candidates")).to_have_count(0)
    shots(sup, "supervisor")
