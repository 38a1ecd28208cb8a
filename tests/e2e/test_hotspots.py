"""Hotspots in Chromium: similar cases arriving in one village raise the board's hotspot panel live, a click marks
their cards, /consult offers the hotspot as a candidate topic, one click makes the topic, and the board's panel
empties live."""

from __future__ import annotations

import math
import re

from helpers import PASSWORD, api_key, auth, user_token
from playwright.sync_api import expect

from e2e.a11y import violations
from e2e.browser import login

DRAIN = [
    "村口排水沟堵塞，下雨后路面积水很深，污水漫进农户院子，请尽快疏通排水沟。",
    "排水沟被垃圾堵死了，昨晚下雨村口积水严重，污水倒灌进院子，希望派人疏通。",
    "村口那条排水沟堵了好久，一下雨就积水，污水进了家门，麻烦疏通一下排水沟。",
    "反映村口排水沟堵塞积水问题，污水流进院子，气味难闻，请安排疏通排水沟。",
]


def _intake(api, key: str, ext: str, text: str, v: dict, i: int) -> dict:
    lat = v["lat"] + 30 * i / 111_195
    lon = v["lon"] - 20 * i / (111_195 * math.cos(math.radians(v["lat"])))
    body = {"external_id": ext, "content": text, "lat": round(lat, 6), "lon": round(lon, 6)}
    res = api.post("/api/intake/hotline", json=body, headers={"X-API-Key": key})
    assert res.status_code == 201, res.text
    return res.json()


def test_board_flags_a_hotspot_live_and_consult_makes_it_a_topic(api, pages, shots):
    op = user_token(api, "operator", "op-hot")
    user_token(api, "supervisor", "sup-hot")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = villages[len(villages) // 3]
    key = api_key("hotline")

    board = pages()
    login(board, "op-hot", PASSWORD, "/board")
    expect(board.locator("#live-status")).to_have_text("实时连接")
    panel = board.get_by_role("region", name=re.compile("研判热点"))
    expect(panel).to_be_visible()
    expect(board.locator("#hot-count")).to_have_text("0")
    expect(board.locator("#hot-empty")).to_have_text("暂无热点")

    # 1. three similar cases in one village: the panel flags one hotspot without a reload
    made = [_intake(api, key, f"H{i}", DRAIN[i], v, i) for i in range(3)]
    item = board.locator("#hot-list button.hot-item")
    expect(item).to_have_count(1, timeout=10_000)
    expect(board.locator("#hot-count")).to_have_text("1")
    expect(item).to_contain_text(v["name"])
    expect(item).to_contain_text("3件")
    expect(item).to_contain_text("排水沟")
    expect(board.locator("#hot-empty")).to_be_hidden()
    shots(board, "hotspot-flagged")

    # 2. a click marks its cases in the queues (and on the map); a second click clears the marks
    item.click()
    expect(item).to_have_attribute("aria-pressed", "true")
    for c in made:
        expect(board.locator(f'.case-card[data-case-id="{c["id"]}"]')).to_have_class(re.compile(r"\bhot\b"))
    expect(board.locator(".case-card.hot")).to_have_count(3)
    assert violations(board) == []
    shots(board, "hotspot-highlighted")

    # 3. a fourth similar case: the same hotspot grows, still one entry
    fourth = _intake(api, key, "H3", DRAIN[3], v, 3)
    expect(item).to_contain_text("4件", timeout=10_000)
    expect(item).to_have_count(1)
    expect(board.locator(f'.case-card.hot[data-case-id="{fourth["id"]}"]')).to_be_visible()
    item.click()
    expect(board.locator(".case-card.hot")).to_have_count(0)

    # English
    board.locator("#lang-switch").click()
    expect(board.locator("#hot-title")).to_contain_text("Hotspots")
    expect(item).to_contain_text("4 cases")
    board.locator("#lang-switch").click()

    # 4. /consult offers it as a candidate; a supervisor sees it without the button
    sup = pages()
    login(sup, "sup-hot", PASSWORD, "/consult")
    expect(sup.locator("#cand-table tbody tr")).to_have_count(1)
    expect(sup.locator("#cand-table button.make-topic")).to_have_count(0)

    consult = pages()
    login(consult, "op-hot", PASSWORD, "/consult")
    row = consult.locator("#cand-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(v["name"])
    expect(row).to_contain_text("4")
    assert violations(consult) == []
    shots(consult, "candidate")
    row.get_by_role("button", name=re.compile("立为议题")).click()
    consult.wait_for_url(re.compile(r"/consult/\d+$"))
    expect(consult.locator("#t-cases li")).to_have_count(4)
    expect(consult.locator("#t-status")).to_contain_text("待审核")
    expect(consult.locator("#t-title")).to_contain_text(v["name"])
    shots(consult, "topic")

    # 5. the board's panel empties live; the candidate list on /consult is empty
    expect(board.locator("#hot-list button.hot-item")).to_have_count(0, timeout=10_000)
    expect(board.locator("#hot-count")).to_have_text("0")
    shots(board, "hotspot-closed")
    consult.goto("/consult")
    expect(consult.locator("#cand-empty")).to_be_visible()
    expect(consult.locator("#topics-table tbody tr")).to_have_count(1)


def test_the_drawer_sets_the_request_type(api, pages):
    op = user_token(api, "operator", "op-kind")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    made = _intake(api, api_key("hotline"), "K1", "想咨询一下医保报销的流程", villages[3], 0)
    page = pages()
    login(page, "op-kind", PASSWORD, "/board")
    card = page.locator(f'.case-card[data-case-id="{made["id"]}"]')
    card.click()
    drawer = page.get_by_role("dialog")
    select = drawer.get_by_label("诉求类型")
    expect(select).to_have_value("")
    select.select_option("咨询")
    drawer.get_by_role("button", name="设置").click()
    expect(drawer.locator("#assign-msg")).to_contain_text("诉求类型已设为：咨询")
    expect(drawer.locator("#timeline")).to_contain_text("诉求类型：咨询")
    assert api.get(f"/api/cases/{made['id']}", headers=auth(op)).json()["request_kind"] == "咨询"
