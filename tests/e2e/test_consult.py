"""Consultation pages in Chromium: the operator runs a topic from its screening to a scheduled meeting with a check-in
QR code, and members check in on their phones (the participant once, twice, and a member who is not invited)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from helpers import PASSWORD, auth, create_member, user_token
from playwright.sync_api import expect

from e2e.a11y import violations
from e2e.browser import login

T = "/api/consultations/topics"


def _ok(res, status: int = 200) -> dict:
    assert res.status_code == status, res.text
    return res.json()


def _world(api) -> dict:
    admin = user_token(api, "admin", "admin-consult")
    op = user_token(api, "operator", "op-consult")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = villages[7]
    dept = _ok(api.post("/api/departments", json={"name": "区住建局"}, headers=auth(admin)), 201)
    point = _ok(api.post("/api/points", json={"name": "协商议事室", "village_code": v["code"]}, headers=auth(op)), 201)
    near = {"town_code": v["parent_code"], "lat": v["lat"], "lon": v["lon"]}
    member = create_member(api, op, name="陈委员", **near)
    outsider = create_member(api, op, name="周委员", **near)
    user_token(api, "member", "chen", member_id=member["id"])
    user_token(api, "member", "zhou", member_id=outsider["id"])
    expert = _ok(
        api.post(
            "/api/consultations/experts",
            json={"name": "林工程师", "organisation": "市规划院", "fields": ["城建"]},
            headers=auth(op),
        ),
        201,
    )
    _ok(api.post("/api/consultations/experts", json={"name": "苏教授", "fields": ["城建"]}, headers=auth(op)), 201)
    cases = []
    for text in ("小区路灯长期不亮，晚上出行不便", "三号楼前路灯坏了一个月", "小区道路照明不足"):
        body = {"content": text, "caller_name": "李四", "lat": v["lat"], "lon": v["lon"]}
        cases.append(_ok(api.post("/api/cases", json=body, headers=auth(op)), 201))
    topic = _ok(
        api.post(
            T,
            json={"title": "小区路灯整治", "description": "三件工单反映同一问题", "case_ids": [c["id"] for c in cases]},
            headers=auth(op),
        ),
        201,
    )
    tid = topic["id"]
    for body in (
        {"kind": "member", "member_id": member["id"]},
        {"kind": "department", "department_id": dept["id"]},
        {"kind": "resident", "name": "王阿姨", "phone": "13700001111"},
    ):
        _ok(api.post(f"{T}/{tid}/participants", json=body, headers=auth(op)), 201)
    return {"op": op, "topic": topic, "point": point, "expert": expert, "cases": cases, "member": member}


def test_operator_runs_a_topic_and_members_check_in_on_their_phones(api, pages, shots):
    w = _world(api)
    op, tid = w["op"], w["topic"]["id"]

    # the list page: the topic, the coverage table, and the new-topic form with the town's open cases
    page = pages()
    login(page, "op-consult", PASSWORD, "/consult")
    expect(page.locator("#topics-table")).to_contain_text("小区路灯整治")
    expect(page.locator("#coverage-table tbody tr").first).to_be_visible()
    page.get_by_label("案件所在镇街").select_option(w["topic"]["town_code"])
    expect(page.locator("#n-cases input[type=checkbox]")).to_have_count(3)
    assert violations(page) == []
    shots(page, "list")

    # the topic page: screening through the five-principle checklist
    page.get_by_role("link", name="小区路灯整治").click()
    page.wait_for_url(re.compile(rf"/consult/{tid}$"))
    expect(page.locator("#t-title")).to_have_text("小区路灯整治")
    expect(page.locator("#t-status")).to_contain_text("待审核")
    expect(page.locator("#t-cases li")).to_have_count(3)
    expect(page.locator("#t-parts")).to_contain_text("陈委员")
    for name in ("政治性", "群体性", "前瞻性", "民主性", "可行性"):
        page.get_by_role("checkbox", name=re.compile(name + "：")).check()
    page.get_by_label("说明 (群体性)").fill("涉及全小区居民出行安全")
    page.get_by_label("审核意见").fill("符合五项原则，立为议题")
    assert violations(page) == []
    shots(page, "screening")
    page.get_by_role("button", name="通过，立为议题").click()
    expect(page.locator("#t-status")).to_contain_text("已立题")
    expect(page.locator("#screen-result")).to_contain_text("涉及全小区居民出行安全")
    assert _ok(api.get(f"{T}/{tid}", headers=auth(op)))["status"] == "screened"

    # an expert drawn by field with a given seed: the page shows the seed, the pool and the drawn name
    page.get_by_label("领域").fill("城建")
    page.get_by_label("随机种子（可留空）").fill("20261121")
    page.get_by_role("button", name="抽取", exact=True).click()
    draw = page.locator("#t-draws .draw").first
    expect(draw.locator(".seed")).to_have_text("20261121")
    drawn = _ok(api.get(f"{T}/{tid}/draws", headers=auth(op)))
    assert drawn[0]["seed"] == 20261121 and len(drawn[0]["pool"]) == 2
    names = {w["expert"]["id"]: "林工程师"}
    first = names.get(drawn[0]["picks"][0], "苏教授")
    second = "苏教授" if first == "林工程师" else "林工程师"
    expect(draw.locator(".pick")).to_have_text(first)
    expect(page.locator("#t-parts")).to_contain_text(first)
    assert violations(page) == []
    shots(page, "drawn")

    # a redraw with a reason replaces the pick
    page.get_by_label(f"重抽原因（必填） · {first}").fill("出差无法参加")
    page.get_by_role("button", name="重新抽取").click()
    redraw = page.locator("#t-draws .draw").nth(1)
    expect(redraw).to_contain_text("出差无法参加")
    expect(redraw.locator(".pick")).to_have_text(second)
    expect(page.locator("#t-parts")).to_contain_text(second)
    expect(page.locator("#t-parts")).not_to_contain_text(first)
    page.get_by_role("button", name="确定参与主体").click()
    expect(page.locator("#t-status")).to_contain_text("主体已确定")

    # a meeting at the point: the check-in QR appears
    page.get_by_label("形式").select_option("roundtable")
    page.get_by_label("时间（北京时间）", exact=True).fill("2030-05-20T09:30")
    page.get_by_label("地点（点位）").select_option(str(w["point"]["id"]))
    page.get_by_label("议程").fill("一、通报情况；二、各方发言；三、形成意见")
    page.get_by_role("button", name="安排并通知参与委员").click()
    expect(page.locator("#t-status")).to_contain_text("已安排")
    meeting_card = page.locator("#t-meetings .meeting").first
    qr = meeting_card.get_by_role("img", name="签到二维码")
    expect(qr).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('.qr img'); return i && i.naturalWidth > 0; }")
    expect(meeting_card).to_contain_text("协商议事室")
    expect(meeting_card).to_contain_text("2030/05/20 09:30")
    expect(meeting_card.locator(".attendance")).to_contain_text("尚无人签到")
    [meeting] = _ok(api.get(f"{T}/{tid}", headers=auth(op)))["meetings"]
    path = urlsplit(meeting["checkin_url"]).path
    assert path == f"/c/{meeting['checkin_token']}"
    expect(meeting_card.locator("a.checkin-link")).to_have_attribute("href", path)
    # the meeting is in 2030: not "held" at a click, only with the reason it was held early
    expect(meeting_card.get_by_role("button", name="标记为已召开")).to_have_count(1)
    expect(meeting_card.locator("form.held-early")).to_contain_text("尚未到开始时间")
    expect(meeting_card.get_by_label("提前召开的原因（未到开始时间，必填）")).to_be_visible()
    assert violations(page) == []
    shots(page, "meeting")

    # the member scans the code on a phone: sign in first, then back to the check-in page
    phone = pages(mobile=True)
    phone.goto(path)
    phone.wait_for_url(re.compile(r"/login\?next="))
    phone.get_by_label(re.compile("用户名")).fill("chen")
    phone.get_by_label(re.compile("密码")).fill(PASSWORD)
    phone.get_by_role("button", name="登录").click()
    phone.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(phone.locator("#ci-topic")).to_have_text("小区路灯整治")
    expect(phone.locator(".facts")).to_contain_text("协商议事室")
    expect(phone.locator(".facts")).to_contain_text("2030/05/20 09:30")
    assert violations(phone) == []
    shots(phone, "checkin-before")
    phone.get_by_role("button", name="签到", exact=True).click()
    expect(phone.locator("#ci-result")).to_have_text(re.compile("^✔ 已签到"))
    assert violations(phone) == []
    shots(phone, "checked-in")
    phone.get_by_role("button", name="签到", exact=True).click()
    expect(phone.locator("#ci-result")).to_contain_text("您已签到，无需重复签到")
    shots(phone, "again")
    phone.locator("#lang-switch").click()
    expect(phone.locator("#ci-result")).to_contain_text("You have already checked in")
    expect(phone.locator("h1")).to_have_text("Meeting check-in")
    expect(phone.locator("#checkin-btn")).to_have_text("Check in")
    shots(phone, "english")

    # back on the operator's page, the attendance list shows the member
    meeting_card.get_by_role("button", name="刷新签到").click()
    expect(meeting_card.locator(".attendance")).to_contain_text("陈委员")
    expect(meeting_card.locator(".att-count")).to_have_text("1")
    page.reload()
    expect(page.locator("#t-meetings .attendance")).to_contain_text("陈委员")
    shots(page, "attendance")

    # a member who is not a participant is told so, and is not counted
    other = pages(mobile=True)
    login(other, "zhou", PASSWORD, path)
    other.get_by_role("button", name="签到", exact=True).click()
    expect(other.locator("#ci-result")).to_contain_text("您不是本次协商的参与委员")
    assert violations(other) == []
    shots(other, "not-a-participant")
    attendance = _ok(api.get(f"/api/meetings/{meeting['id']}/attendance", headers=auth(op)))
    assert [a["name"] for a in attendance] == ["陈委员"]

    # the audit trail on the page, and the English switch on the operator's page
    expect(page.locator("#t-trail")).to_contain_text("委员签到")
    page.locator("#lang-switch").click()
    expect(page.get_by_role("heading", name="Screening (five principles)")).to_be_visible()
    expect(page.locator("#t-status")).to_contain_text("Scheduled")
    assert violations(page) == []
    shots(page, "english")


def test_checkin_page_is_for_members_only(api, pages):
    w = _world(api)
    page = pages()
    login(page, "op-consult", PASSWORD, "/consult")
    page.goto("/c/not-a-token")
    expect(page.locator("h1")).to_contain_text("无权访问")
    phone = pages(mobile=True)
    login(phone, "chen", PASSWORD, "/m")
    phone.goto("/c/not-a-token")
    expect(phone.locator("h1")).to_contain_text("签到码无效")
    phone.goto(f"/consult/{w['topic']['id']}")
    expect(phone.locator("h1")).to_contain_text("无权访问")
