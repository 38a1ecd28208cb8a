"""A member on a phone: live offers with a badge, decline with a reason, accept, progress with a photo, resolve,
the duty switch, and nobody else's cases."""

from __future__ import annotations

import io
import re

from helpers import PASSWORD, api_key, auth, create_member, user_token
from PIL import Image
from playwright.sync_api import expect

from e2e.browser import login

CATEGORY = "城乡建设"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 30)).save(buf, "PNG")
    return buf.getvalue()


def _hotline(api, key: str, external_id: str, lat: float, lon: float, content: str) -> int:
    res = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": key},
        json={"external_id": external_id, "content": content, "category": CATEGORY, "lat": lat, "lon": lon},
    )
    assert res.status_code == 201, res.text
    return res.json()["id"]


def test_member_handles_offers_on_a_phone(api, pages, shots):
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = villages[42]
    other = next(x for x in villages if x["parent_code"] != v["parent_code"])
    me = create_member(api, op, name="张委员", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    them = create_member(api, op, name="李委员", town_code=other["parent_code"], lat=other["lat"], lon=other["lon"])
    user_token(api, "member", "zhang", member_id=me["id"])
    their_token = user_token(api, "member", "li", member_id=them["id"])
    key = api_key()

    page = pages(mobile=True, geolocation={"latitude": v["lat"] + 0.001, "longitude": v["lon"]})
    login(page, "zhang", PASSWORD, "/m")
    expect(page.locator("#duty-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#offers")).to_contain_text("暂无")
    expect(page.locator("#live-state")).to_contain_text("实时")
    shots(page, "empty")

    # two offers arrive live
    first = _hotline(api, key, "m-1", v["lat"] + 0.002, v["lon"], "村道上有大坑，电动车容易摔")
    card1 = page.locator(f"#offers [data-case-id='{first}']")
    expect(card1).to_be_visible(timeout=2000)
    expect(page.locator("#offer-badge")).to_be_visible(timeout=2000)
    expect(page.locator("#offer-badge")).to_have_text("1")
    expect(page.locator("#offer-notice")).to_be_visible()
    second = _hotline(api, key, "m-2", v["lat"], v["lon"] + 0.002, "路灯连续三晚不亮")
    card2 = page.locator(f"#offers [data-case-id='{second}']")
    expect(card2).to_be_visible(timeout=2000)
    expect(page.locator("#offer-badge")).to_have_text("2", timeout=2000)
    expect(card1.locator(".dist")).to_contain_text("米")
    expect(card1.locator(".countdown")).to_have_text(re.compile(r"\d+:\d\d"))
    shots(page, "two-offers")
    page.locator("#offer-notice-see").click()
    expect(page.locator("#offer-badge")).to_be_hidden()

    # another member's case is not theirs to see
    theirs = _hotline(api, key, "m-3", other["lat"], other["lon"], "别的镇的案件")
    assert api.get(f"/api/cases/{theirs}", headers=auth(op)).json()["offered_to"] == them["id"]
    page.reload()
    expect(card2).to_be_visible()
    expect(page.locator(f"[data-case-id='{theirs}']")).to_have_count(0)
    zhang = api.post("/api/auth/token", json={"username": "zhang", "password": PASSWORD}).json()["access_token"]
    assert api.get(f"/api/cases/{theirs}", headers=auth(zhang)).status_code == 404
    assert api.get(f"/api/cases/{first}", headers=auth(their_token)).status_code == 404

    # decline the first (a reason is required), accept the second
    card1.get_by_role("button", name="拒绝").click()
    card1.get_by_role("button", name="确认拒绝").click()
    expect(card1).to_be_visible()  # the empty reason stopped it
    card1.get_by_label("拒绝原因（必填）").fill("正在外地开会")
    shots(page, "decline-reason")
    card1.get_by_role("button", name="确认拒绝").click()
    expect(card1).to_have_count(0)
    assert api.get(f"/api/cases/{first}", headers=auth(op)).json()["status"] in ("escalated", "offered")
    assert api.get(f"/api/cases/{first}", headers=auth(op)).json()["offered_to"] != me["id"]

    card2.get_by_role("button", name="签收").click()
    active = page.locator(f"#active [data-case-id='{second}']")
    expect(active).to_be_visible()
    expect(active.locator("a[href^='https://uri.amap.com/marker?position=']")).to_be_visible()
    expect(active.locator("a[href^='geo:']")).to_be_visible()
    assert api.get(f"/api/cases/{second}", headers=auth(op)).json()["status"] == "assigned"

    # progress with a photo
    active.get_by_text("记录进展").click()
    active.get_by_label("进展说明（必填）").fill("已到现场查看，联系供电所")
    active.get_by_label("照片（最多 3 张）").set_input_files(
        files=[{"name": "site.png", "mimeType": "image/png", "buffer": _png()}]
    )
    shots(page, "progress-form")
    active.get_by_role("button", name="提交进展").click()
    expect(page.locator("#m-ok")).to_contain_text("进展已记录")
    expect(active.locator(".status-pill")).to_have_text("办理中")
    case = api.get(f"/api/cases/{second}", headers=auth(op)).json()
    assert case["status"] == "in_progress" and len(case["attachments"]) == 1

    # resolve
    active.get_by_text("办结", exact=True).click()
    active.get_by_label("办理结果（必填）").fill("路灯已修复")
    active.get_by_role("button", name="确认办结").click()
    expect(page.locator("#m-ok")).to_contain_text("已办结")
    expect(active).to_have_count(0)
    case = api.get(f"/api/cases/{second}", headers=auth(op)).json()
    assert case["status"] == "resolved" and case["resolution"] == "路灯已修复"

    # off duty, and the shared position
    page.locator("#duty-toggle").click()
    expect(page.locator("#duty-toggle")).to_have_attribute("aria-pressed", "false")
    assert api.get(f"/api/members/{me['id']}", headers=auth(op)).json()["on_duty"] is False
    page.get_by_role("button", name="共享我的位置").click()
    expect(page.locator("#pos-state")).to_contain_text("位置已共享")
    pos = api.get(f"/api/members/{me['id']}", headers=auth(op)).json()
    assert abs(pos["lat"] - (v["lat"] + 0.001)) < 1e-5
    shots(page, "off-duty")
    page.locator("#lang-switch").click()
    expect(page.locator("#duty-state")).to_contain_text("off duty")
    shots(page, "english")
