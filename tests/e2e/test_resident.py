"""A resident on a phone: the QR form, the tracking page with its QR code, rating, a wrong secret, geolocation."""

from __future__ import annotations

import io
import re

from helpers import auth, create_member, user_token
from PIL import Image
from playwright.sync_api import expect


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def _point(api):
    op = user_token(api, "operator")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[42]
    res = api.post(
        "/api/points",
        json={"name": "村民议事室", "kind": "consultation_room", "village_code": v["code"]},
        headers=auth(op),
    )
    assert res.status_code == 201, res.text
    return op, v, res.json()


def test_resident_reports_follows_and_rates(api, pages, shots):
    op, v, point = _point(api)
    member = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    mtok = user_token(api, "member", "m1", member_id=member["id"])

    page = pages(mobile=True)
    page.goto(f"/q/{point['qr_token']}")
    expect(page.locator("#place")).to_contain_text("村民议事室")
    expect(page.locator("#place")).to_contain_text(v["name"])
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    # a fourth photo is refused with a message
    four = [{"name": f"p{i}.png", "mimeType": "image/png", "buffer": _png()} for i in range(4)]
    page.set_input_files("#photos", files=four)
    expect(page.locator("#thumbs img")).to_have_count(3)
    expect(page.locator("#photo-msg")).to_contain_text("最多")
    shots(page, "qr-form-three-photos")
    page.get_by_role("button", name=re.compile("删除 1")).click()
    page.get_by_role("button", name=re.compile("删除 1")).click()
    expect(page.locator("#thumbs img")).to_have_count(1)

    page.get_by_label("诉求分类").select_option("城乡建设")
    page.get_by_label("诉求内容").fill("村口桥栏杆松动，夜里很危险")
    page.get_by_label("电话（选填）").fill("13800001234")
    shots(page, "qr-form-filled")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r"/t/[^#]+#s="))
    expect(page.locator("#secret")).to_have_text(re.compile(r"\S"))  # the page's script fills it in
    tracking = page.locator("#tracking-no").inner_text().strip()
    secret = page.locator("#secret").inner_text().strip()
    assert tracking and secret and page.url.endswith("#s=" + secret)
    expect(page.locator("#qr svg")).to_be_visible()
    expect(page.locator("#timeline li")).not_to_have_count(0)
    expect(page.locator("#rating-form")).to_be_hidden()
    shots(page, "track-received")

    tracked = api.get(f"/api/track/{tracking}", params={"secret": secret}).json()
    case = next(c for c in api.get("/api/cases", headers=auth(op)).json() if c["tracking_no"] == tracking)
    assert case["channel"] == "qr" and case["content"] == tracked["content"] == "村口桥栏杆松动，夜里很危险"
    assert [a["content_type"] for a in case["attachments"]] == ["image/png"]
    assert case["offered_to"] == member["id"]

    for step, body in (("accept", None), ("resolve", {"note": "已加固栏杆"})):
        res = api.post(f"/api/cases/{case['id']}/{step}", json=body, headers=auth(mtok))
        assert res.status_code == 200, res.text

    page.get_by_role("button", name="刷新").click()
    expect(page.locator("#status")).to_have_text("已办结")
    expect(page.locator("#resolution")).to_have_text("已加固栏杆")
    form = page.locator("#rating-form")
    expect(form).to_be_visible()
    shots(page, "track-resolved")
    form.get_by_label("不满意").check()
    form.get_by_label("意见（选填）").fill("栏杆还是晃")
    form.get_by_role("button", name="提交评价").click()
    expect(page.locator("#rating-result")).to_contain_text("已重新办理")
    expect(page.locator("#status")).to_have_text("已派待签")  # reopened, and sent to its member again at once
    expect(page.locator("#timeline li").first).to_contain_text("已派发给委员")
    expect(page.locator("#timeline li").nth(1)).to_contain_text("已评价")
    expect(form).to_be_hidden()
    shots(page, "track-reopened")
    assert api.get(f"/api/track/{tracking}", params={"secret": secret}).json()["status"] == "offered"

    # the English switch
    page.locator("#lang-switch").click()
    expect(page.locator("#status")).to_have_text("Offered")
    expect(page.locator("#rating-result")).to_contain_text("Reopened")
    shots(page, "track-english")


def test_wrong_secret_is_explained_and_the_right_one_opens_the_case(api, pages, shots):
    _, _, point = _point(api)
    res = api.post(f"/api/intake/qr/{point['qr_token']}", data={"content": "路灯不亮", "category": "城乡建设"})
    assert res.status_code == 201, res.text
    out = res.json()

    page = pages(mobile=True)
    page.goto(f"/t/{out['tracking_no']}#s=wrong-{out['secret']}")
    expect(page.locator("#track-error")).to_contain_text("查询码不正确")
    expect(page.locator("#progress")).to_be_hidden()
    shots(page, "wrong-secret")
    page.get_by_label("请输入查询码").fill(out["secret"])
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#status")).to_be_visible()
    expect(page.locator("#track-error")).to_be_hidden()
    expect(page.locator("#qr svg")).to_be_visible()
    assert page.url.endswith("#s=" + out["secret"])

    # without any secret: the form asks for it; a ?secret= link moves into the fragment
    page.goto(f"/t/{out['tracking_no']}")
    expect(page.locator("#secret-form")).to_be_visible()
    page.goto(f"/t/{out['tracking_no']}?secret={out['secret']}")
    expect(page.locator("#status")).to_be_visible()
    assert "?secret" not in page.url and page.url.endswith("#s=" + out["secret"])


def test_my_location_is_used_when_granted(api, pages, shots):
    op, v, point = _point(api)
    lat, lon = round(v["lat"] + 0.002, 5), round(v["lon"] + 0.001, 5)
    page = pages(mobile=True, geolocation={"latitude": lat, "longitude": lon})
    page.goto(f"/q/{point['qr_token']}")
    expect(page.locator("#loc-status")).to_contain_text("点位")
    page.get_by_role("button", name="使用我的位置").click()
    expect(page.locator("#loc-status")).to_contain_text(f"{lat:.5f}")
    shots(page, "my-location")
    page.get_by_label("诉求内容").fill("这里的下水道堵了")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url(re.compile(r"/t/[^#]+#s="))
    expect(page.locator("#secret")).to_have_text(re.compile(r"\S"))  # the page's script fills it in
    tracking = page.locator("#tracking-no").inner_text().strip()
    case = next(c for c in api.get("/api/cases", headers=auth(op)).json() if c["tracking_no"] == tracking)
    assert abs(case["lat"] - lat) < 1e-5 and abs(case["lon"] - lon) < 1e-5


def test_a_dead_qr_code_shows_a_page_not_a_form(api, pages):
    page = pages(mobile=True)
    res = page.goto("/q/no-such-token")
    assert res.status == 404
    expect(page.locator("h1")).to_contain_text("二维码")
    assert page.locator("form#qr-form").count() == 0


def test_without_javascript_a_resident_reports_follows_and_rates(api, pages, shots):
    """A phone with JavaScript off: the form posts, the receipt's button opens the progress served by the
    server (status, timeline, result), the rating form posts, and a wrong secret asks again."""
    op, v, point = _point(api)
    member = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    mtok = user_token(api, "member", "m1", member_id=member["id"])

    page = pages(mobile=True, javascript=False)
    page.goto(f"/q/{point['qr_token']}")
    page.get_by_label("诉求分类").select_option("城乡建设")
    page.get_by_label("诉求内容").fill("村口路灯不亮")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("heading", name="已受理")).to_be_visible()
    tracking = page.locator("#tracking-no").inner_text().strip()
    secret = page.locator("#secret").inner_text().strip()
    assert tracking and secret
    page.get_by_role("button", name=re.compile("查询进度")).click()
    expect(page.locator("#status")).to_have_text("已派待签")
    expect(page.locator("#t-content")).to_have_text("村口路灯不亮")
    expect(page.locator("#timeline li").first).to_contain_text("已派发给委员")
    expect(page.locator("#timeline li").last).to_contain_text("已受理")
    expect(page.locator("#rating-form")).to_be_hidden()
    assert secret not in page.url  # posted, not put in an address
    shots(page, "nojs-progress")

    case = next(c for c in api.get("/api/cases", headers=auth(op)).json() if c["tracking_no"] == tracking)
    for step, body in (("accept", None), ("resolve", {"note": "已更换灯泡"})):
        assert api.post(f"/api/cases/{case['id']}/{step}", json=body, headers=auth(mtok)).status_code == 200

    page.get_by_role("button", name="刷新").click()
    expect(page.locator("#status")).to_have_text("已办结")
    expect(page.locator("#resolution")).to_have_text("已更换灯泡")
    form = page.locator("#rating-form")
    expect(form).to_be_visible()
    form.get_by_role("button", name="提交评价").click()  # no choice: the browser's own required check stops it
    expect(form).to_be_visible()
    form.get_by_label("满意", exact=True).check()
    form.get_by_label("意见（选填）").fill("很及时")
    shots(page, "nojs-resolved")
    form.get_by_role("button", name="提交评价").click()
    expect(page.locator("#rating-result")).to_have_text("感谢您的评价：满意")
    expect(page.locator("#status")).to_have_text("已关闭")
    expect(page.locator("#rating-form")).to_be_hidden()
    shots(page, "nojs-rated")
    tracked = api.get(f"/api/track/{tracking}", params={"secret": secret}).json()
    assert tracked["rating"] == "satisfied" and tracked["status"] == "closed"

    # the tracking number alone asks for the secret; a wrong one says so, the right one opens the case
    other = pages(mobile=True, javascript=False)
    other.goto(f"/t/{tracking}")
    other.get_by_label("请输入查询码").fill("wrong-secret")
    other.get_by_role("button", name="查询").click()
    expect(other.locator("#track-error")).to_contain_text("查询码有误")
    expect(other.locator("#progress")).to_be_hidden()
    other.get_by_label("请输入查询码").fill(secret)
    other.get_by_role("button", name="查询").click()
    expect(other.locator("#status")).to_have_text("已关闭")
    expect(other.locator("#rating-result")).to_have_text("感谢您的评价：满意")
