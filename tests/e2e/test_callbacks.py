"""The callback desk (/callbacks) in Chromium: a resolved case appears live, the operator reads the script with the
reply, claims the task, records "satisfied"; the task leaves the list and the case is closed (the resident's
tracking page says so too)."""

from __future__ import annotations

import re

from helpers import PASSWORD, auth, create_member, user_token
from playwright.sync_api import expect

from e2e.a11y import violations
from e2e.browser import login

REPLY = "已修复路灯线路，路灯恢复照明"


def test_the_operator_calls_back_records_satisfied_and_the_case_closes(api, pages, shots):
    op = user_token(api, "operator", "op-cb")
    member = create_member(api, op, name="承办委员", level="district")
    member_token = user_token(api, "member", "m-cb", member_id=member["id"])
    body = {"content": "村口三盏路灯一直不亮，晚上出行不安全", "caller_name": "王秀英", "caller_phone": "13700001111"}
    case = api.post("/api/cases", json=body, headers=auth(op)).json()
    assert api.post(f"/api/cases/{case['id']}/assign", json={"member_id": member["id"]}, headers=auth(op)).is_success

    page = pages()
    login(page, "op-cb", PASSWORD, "/callbacks")
    expect(page.get_by_role("heading", name="回访工作台")).to_be_visible()
    expect(page.locator("#live-status")).to_have_class(re.compile("online"))
    expect(page.get_by_text("暂无待回访任务。")).to_be_visible()
    assert page.get_by_role("navigation").get_by_role("link", name="回访").is_visible()

    # the member resolves: the task arrives live
    res = api.post(f"/api/cases/{case['id']}/resolve", json={"note": REPLY}, headers=auth(member_token))
    assert res.status_code == 200, res.text
    item = page.locator("#cb-list button", has_text=case["tracking_no"])
    expect(item).to_be_visible()
    expect(page.locator("#cb-count")).to_have_text("1")
    item.click()

    script = page.locator("#d-script")
    expect(script).to_contain_text("请问是王**吗")
    expect(script).to_contain_text(REPLY)
    expect(script).to_contain_text("满意、基本满意，还是不满意")
    expect(page.locator("#d-phone")).to_have_text("13700001111")
    assert violations(page) == []
    shots(page, "script")
    page.locator("#lang-switch").click()  # English
    expect(script).to_contain_text("satisfied, basically satisfied, or dissatisfied")
    expect(page.get_by_role("heading", name="Callback desk")).to_be_visible()
    page.locator("#lang-switch").click()  # back to Chinese

    page.get_by_role("button", name="认领任务").click()
    expect(page.get_by_role("status").filter(has_text="已认领")).to_be_visible()
    page.get_by_label("已联系上").check()
    page.get_by_label("满意", exact=True).check()
    page.get_by_label("回访记录（选填）").fill("群众表示路灯已亮")
    page.get_by_role("button", name="提交回访结果").click()

    expect(page.locator("#cb-ok")).to_contain_text("回访已记录")
    expect(page.locator("#cb-ok")).to_contain_text("已关闭")
    expect(item).to_have_count(0)
    expect(page.get_by_text("暂无待回访任务。")).to_be_visible()
    shots(page, "recorded")
    seen = api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()
    assert (seen["status"], seen["rating"]) == ("closed", "satisfied")

    # the resident's page: the reply, and the case closed with the score given on the phone
    resident = pages(mobile=True)
    resident.goto(f"/t/{case['tracking_no']}#s={case['secret']}")
    expect(resident.locator("#resolution")).to_have_text(REPLY)
    expect(resident.locator("#status")).to_have_text("已关闭")
