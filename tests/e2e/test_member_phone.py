"""The member's phone page at 390×844 (issue 15.7): photos as thumbnails that load and open larger, the resolved
cases kept in a history with their result, why a case was reopened, a sign-in sent to a page the role may not
open landing on the member's page, and no Chinese left in the page's own words in English (issue 15.6)."""

from __future__ import annotations

import io
import re

import httpx
from helpers import PASSWORD, auth, create_member, point_token, user_token
from PIL import Image
from playwright.sync_api import expect

from e2e.browser import login

CATEGORY = "城乡建设"
REPORT = "小区门口垃圾堆了一个星期，臭味很大"
RESULT = "已联系环卫清运，门口恢复整洁"
REASON = "垃圾第二天又堆起来了，没人管"

# Chinese characters and full-width punctuation
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")

# The page's own words in view (text and the labels a screen reader reads), leaving out what people wrote
# (.ugc: the resident's report, names, addresses, results, reasons, meeting titles), the signed-in member's
# name, the brand mark and the switch back to Chinese, which are Chinese in every language.
CHROME_TEXT = """() => {
  const skip = ".ugc, .who, .brand [aria-hidden], #lang-switch";
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest(skip) || el.closest("script, style, noscript")) continue;
    if (!el.checkVisibility({ visibilityProperty: true })) continue;
    out.push(n.textContent.trim());
  }
  document.querySelectorAll("[aria-label], [alt], [title], [placeholder]").forEach((el) => {
    if (el.closest(skip) || !el.checkVisibility()) return;
    for (const a of ["aria-label", "alt", "title", "placeholder"]) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  });
  out.push(document.title);
  return out;
}"""


def _jpeg(width: int = 800, height: int = 600) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 140, 90)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _chinese_in_chrome(page) -> list[str]:
    return [t for t in page.evaluate(CHROME_TEXT) if CJK.search(t)]


def _both(page, shots, label: str) -> None:
    """A screenshot in Chinese, then in English with none of the page's own words left in Chinese, and back."""
    shots(page, f"{label}-zh")
    page.locator("#lang-switch").click()
    expect(page.locator("h1")).to_have_text("My cases")
    assert _chinese_in_chrome(page) == [], label
    shots(page, f"{label}-en")
    page.locator("#lang-switch").click()
    expect(page.locator("h1")).to_have_text("我的任务")


def _setup(api):
    op = user_token(api, "operator", "op-phone")
    village = api.get("/api/regions", params={"level": "village"}, headers=auth(op)).json()[0]
    me = create_member(api, op, name="周委员", town_code=village["parent_code"], lat=village["lat"], lon=village["lon"])
    user_token(api, "member", "zhou", member_id=me["id"])
    member = api.post("/api/auth/token", json={"username": "zhou", "password": PASSWORD}).json()["access_token"]
    return op, village, me, member


def test_photos_history_and_reopen_reason_on_a_phone_in_both_languages(api, pages, shots):
    op, v, me, member = _setup(api)
    # an earlier case, handled and rated satisfied: closed, it belongs to the history only
    res = api.post(
        "/api/cases",
        headers=auth(op),
        json={"content": "路灯不亮", "category": CATEGORY, "caller_name": "王先生", "lat": v["lat"], "lon": v["lon"]},
    )
    assert res.status_code == 201, res.text
    old = res.json()
    assert api.post(f"/api/cases/{old['id']}/accept", headers=auth(member)).status_code == 200
    res = api.post(f"/api/cases/{old['id']}/resolve", json={"note": "路灯已修好"}, headers=auth(member))
    assert res.status_code == 200, res.text
    res = api.post(f"/api/track/{old['tracking_no']}/rating", json={"secret": old["secret"], "score": "satisfied"})
    assert res.json().get("status") == "closed", res.text
    # a resident's report with a photo, from a point's QR code: offered to the member
    res = api.post(
        f"/api/intake/qr/{point_token(api, op)}",
        data={"content": REPORT, "category": CATEGORY, "lat": v["lat"] + 0.001, "lon": v["lon"], "name": "陈女士"},
        files=[("photos", ("door.jpg", _jpeg(), "image/jpeg"))],
    )
    assert res.status_code == 201, res.text
    case = res.json()
    assert api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["offered_to"] == me["id"]

    page = pages(mobile=True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    login(page, "zhou", PASSWORD, "/m")
    offer = page.locator(f"#offers [data-case-id='{case['id']}']")
    expect(offer).to_be_visible()
    # the first screen asks for the cases in hand only; the history waits until it is opened
    assert not any("resolved" in u for u in requests if "/api/cases?" in u), requests
    expect(page.locator("#history-list")).not_to_contain_text("路灯已修好")

    # the photo: a thumbnail that loads, and a tap shows it full size
    thumb = offer.locator(".photos img")
    expect(thumb).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert thumb.evaluate("img => img.naturalWidth") == 800
    small = thumb.bounding_box()
    assert small["width"] <= 100 and small["height"] <= 100, small  # a thumbnail, not the picture
    expect(offer.get_by_role("link", name=re.compile("照片 1"))).to_be_visible()
    _both(page, shots, "offer-with-photo")
    with page.expect_popup() as popup:
        thumb.click()
    big = popup.value
    big.wait_for_load_state("load")
    shown = big.locator("img")
    big.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shown.element_handle())
    assert shown.evaluate("img => img.naturalWidth") == 800
    assert shown.bounding_box()["width"] > 3 * small["width"]  # larger: the phone's whole width
    shots(big, "photo-full-size")
    big.close()

    # accept, then resolve: the case moves to the history with its result
    offer.get_by_role("button", name="签收").click()
    active = page.locator(f"#active [data-case-id='{case['id']}']")
    expect(active).to_be_visible()
    expect(active.locator(".photos img")).to_have_count(1)
    active.get_by_text("办结", exact=True).click()
    active.get_by_label("办理结果（必填）").fill(RESULT)
    active.get_by_role("button", name="确认办结").click()
    expect(page.locator("#m-ok")).to_contain_text("已办结")
    expect(active).to_have_count(0)
    page.locator("#history > summary").click()
    done = page.locator(f"#history-list [data-case-id='{case['id']}']")
    expect(done).to_be_visible()
    expect(done.locator(".resolution")).to_have_text(RESULT)
    expect(done.locator(".status-pill")).to_have_text("已办结")
    expect(done.locator(".rating")).to_have_text("等待群众评价")
    expect(done.locator("time")).to_have_text(re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d$"))
    closed = page.locator(f"#history-list [data-case-id='{old['id']}']")
    expect(closed.locator(".resolution")).to_have_text("路灯已修好")
    expect(closed.locator(".status-pill")).to_have_text("已关闭")
    expect(closed.locator(".rating")).to_have_text("满意")
    _both(page, shots, "history")
    page.locator("#lang-switch").click()
    expect(closed.locator(".rating")).to_have_text("Satisfied")
    expect(done.locator("dt").first).to_have_text("Result")
    page.locator("#lang-switch").click()

    # the resident is not satisfied: the case comes back to its member as an offer, with the resident's reason
    res = api.post(
        f"/api/track/{case['tracking_no']}/rating",
        json={"secret": case["secret"], "score": "dissatisfied", "comment": REASON},
    )
    assert res.json().get("status") == "offered", res.text
    again = page.locator(f"#offers [data-case-id='{case['id']}']")
    expect(again).to_be_visible()
    reopen = again.locator(".reopen")
    expect(reopen).to_contain_text("重办原因")
    expect(reopen.locator(".reopen-note")).to_have_text(REASON)
    expect(reopen).to_contain_text("不满意")
    expect(reopen).to_contain_text("居民")
    expect(again.locator(".progress-form")).to_have_count(0)  # an offer: signed for first
    expect(done).to_have_count(0)  # no longer resolved
    _both(page, shots, "reopened")
    page.locator("#lang-switch").click()
    expect(reopen).to_contain_text("Why it was reopened")
    expect(reopen).to_contain_text("Dissatisfied")
    expect(reopen).to_contain_text("Resident")
    page.locator("#lang-switch").click()
    # signed for again, it is theirs to continue: the reason stays on the card, with the forms to report
    again.get_by_role("button", name="签收").click()
    taken = page.locator(f"#active [data-case-id='{case['id']}']")
    expect(taken.locator(".reopen-note")).to_have_text(REASON)
    expect(taken.locator(".status-pill")).to_have_text("已签收")
    expect(taken.locator(".progress-form")).to_have_count(1)
    page.locator("#lang-switch").click()
    assert _chinese_in_chrome(page) == []
    page.reload()  # English is remembered, and the first screen is English too
    expect(page.locator("#active .reopen")).to_contain_text("Why it was reopened")
    assert page.title() == "My cases · Let's talk it over"
    assert _chinese_in_chrome(page) == []
    shots(page, "reloaded-en", full_page=False)


def _landing(server, username: str, next_path: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        res = client.post("/login", data={"username": username, "password": PASSWORD, "next": next_path})
        assert res.status_code == 303, res.text
        return res.headers["location"]


def test_a_member_sent_to_the_board_signs_in_to_the_member_page(api, server, pages, shots):
    _setup(api)
    user_token(api, "operator", "op-next")
    user_token(api, "admin", "adm-next")
    page = pages(mobile=True)
    page.goto("/board")  # e.g. a link passed on in a group chat: the login page, coming back to /board
    assert "next=/board" in page.url
    page.get_by_label("用户名").fill("zhou")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/m$"))
    expect(page.locator("h1")).to_have_text("我的任务")
    shots(page, "member-landed")
    # the page's own rule decides, for every role: a page the role may open is kept, with its query
    assert _landing(server, "zhou", "/board") == "/m"
    assert _landing(server, "zhou", "/admin") == "/m"
    assert _landing(server, "zhou", "/m?lang=en") == "/m?lang=en"
    assert _landing(server, "zhou", "/c/no-such-meeting") == "/c/no-such-meeting"  # theirs to open; it says 404
    assert _landing(server, "op-next", "/admin") == "/board"
    assert _landing(server, "op-next", "/m") == "/board"
    assert _landing(server, "op-next", "/inspect") == "/inspect"
    assert _landing(server, "adm-next", "/board") == "/board"
    assert _landing(server, "zhou", "//evil.example/m") == "/m"  # still no open redirect
