"""The board on a 1920×1080 wall screen, read from 3 m: 60 cases in every queue column, in Chinese and in English,
and no card has its tracking number, category, place or countdown cut off; an escalation raises an alarm the
operator sees and acknowledges; a manual assignment is shown as what it is (not as the member's acceptance)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from helpers import PASSWORD, api_key, auth, create_member, user_token
from playwright.sync_api import expect

from dispatch.db import utcnow
from e2e.browser import login

PER_COLUMN = 60
COLUMNS = ("new", "offered", "active", "overdue")
# long and short categories, some top-level only: a card must show each of them whole or wrap it
CATEGORIES = [
    "城乡建设/城市建设和市政管理/城市公共设施",
    "劳动和社会保障",
    "交通运输",
    "卫生计生",
    "环境保护/环保管理/生态示范和模范城区创建",
    "科技与信息产业",
]
TOPICS = ["路灯", "积水", "噪声", "工资", "公交", "垃圾", "井盖", "停车", "供水", "养老", "校车", "菜场"]

# Per card: is anything cut off (scrolled content larger than the box), and what does it show?
CARD_CHECK = """(cards) => cards.map((el) => {
  const part = (sel) => { const p = el.querySelector(sel); return p ? p.innerText.trim() : ""; };
  const clipped = [el, ...el.querySelectorAll(".c-no, .c-cat, .c-place, .c-cd, .chip")]
    .filter((p) => p.scrollHeight > p.clientHeight + 1 || p.scrollWidth > p.clientWidth + 1)
    .map((p) => p.className);
  const box = el.getBoundingClientRect();
  return { id: el.dataset.caseId, clipped, no: part(".c-no"), cat: part(".c-cat"), place: part(".c-place"),
           cd: part(".c-cd"), height: box.height,
           noPx: parseFloat(getComputedStyle(el.querySelector(".c-no")).fontSize),
           cdPx: parseFloat(getComputedStyle(el.querySelector(".c-cd")).fontSize),
           placePx: parseFloat(getComputedStyle(el.querySelector(".c-place")).fontSize) };
})"""


# the texts of a card that must be in the page's language (the place names are data)
WORDS = "(cs) => cs.map((c) => c.querySelector('.c-cat').innerText + ' ' + c.querySelector('.c-cd').innerText)"


def _far_apart(api, token: str) -> tuple[dict, dict, dict]:
    """Three villages more than 10 km from each other (the dispatch radius is 5 km)."""
    villages = api.get("/api/regions?level=village", headers=auth(token)).json()

    def km(a: dict, b: dict) -> float:
        dy = (a["lat"] - b["lat"]) * 111.2
        dx = (a["lon"] - b["lon"]) * 111.2 * math.cos(math.radians(a["lat"]))
        return math.hypot(dx, dy)

    picked = [villages[0]]
    for v in villages:
        if all(km(v, p) > 10 for p in picked):
            picked.append(v)
        if len(picked) == 3:
            return picked[0], picked[1], picked[2]
    raise AssertionError("no three villages 10 km apart")


def _batch(api, key: str, prefix: str, village: dict, n: int, *, received_days_ago: int = 0) -> list[dict]:
    """``n`` hotline cases around ``village`` in one batch request (the platform's own way of sending many)."""
    received = (utcnow() - timedelta(days=received_days_ago)).isoformat() if received_days_ago else None
    items = []
    for i in range(n):
        body = {
            "external_id": f"{prefix}-{i:03d}",
            "caller_name": "王女士",
            "caller_phone": "13800001234",
            "lat": round(village["lat"] + (i % 7) * 0.0012, 6),
            "lon": round(village["lon"] + (i // 7) * 0.0012, 6),
            "content": f"第{i}号来电：{TOPICS[i % len(TOPICS)]}问题{prefix}{i}，请尽快处理。",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "urgency": "urgent" if i % 5 == 0 else "normal",
        }
        if received:
            body["received_at"] = received
        items.append(body)
    res = api.post("/api/intake/hotline", json=items, headers={"X-API-Key": key})
    assert res.status_code == 207, res.text
    assert all(r["status"] == 201 for r in res.json()), res.text[:500]
    return [r["body"] for r in res.json()]


def _assert_cards_whole(page, lang: str) -> None:
    for col in COLUMNS:
        expect(page.locator(f"#count-{col}")).to_have_text(str(PER_COLUMN))
        column = page.locator(f"#queue-{col}")
        cards = column.locator(".case-card")
        expect(cards).to_have_count(PER_COLUMN)
        # the column scrolls within itself; the page does not grow
        sizes = column.evaluate("(el) => [el.scrollHeight, el.clientHeight, getComputedStyle(el).overflowY]")
        assert sizes[0] > sizes[1] and sizes[2] in ("auto", "scroll"), (col, sizes)
        for card in cards.evaluate_all(CARD_CHECK):
            where = f"{lang} {col} card {card['id']}"
            assert not card["clipped"], f"{where}: clipped {card['clipped']} ({card})"
            assert re.fullmatch(r"[A-Z0-9-]{6,}", card["no"]), f"{where}: tracking number {card['no']!r}"
            assert card["cat"] and card["cat"] != "—", f"{where}: no category"
            assert card["place"], f"{where}: no place"
            assert re.search(r"\d", card["cd"]), f"{where}: no countdown {card['cd']!r}"
            assert card["noPx"] >= 24 and card["cdPx"] >= 24 and card["placePx"] >= 18, f"{where}: too small {card}"
        if lang == "en":
            texts = cards.evaluate_all(WORDS)
            assert not [t for t in texts if re.search(r"[\u4e00-\u9fff]", t)], (col, texts[:3])
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")


def test_a_full_board_on_the_wall_in_both_languages(api, pages, shots):
    op = user_token(api, "operator", "op-wall")
    key = api_key("hotline")
    far, near, lonely = _far_apart(api, op)

    # nobody on duty yet: escalated into 待派; received a month ago: escalated and overdue
    _batch(api, key, "ESC", far, PER_COLUMN)
    _batch(api, key, "LATE", far, PER_COLUMN, received_days_ago=30)
    # one district member with room for everything near the second village: offered; half of them accepted
    member = create_member(api, op, name="赵委员", level="district", capacity=500, lat=near["lat"], lon=near["lon"])
    mtok = user_token(api, "member", "zhao", member_id=member["id"])
    _batch(api, key, "OFF", near, PER_COLUMN)
    taken = _batch(api, key, "ACC", near, PER_COLUMN)
    for case in taken:
        res = api.post(f"/api/cases/{case['id']}/accept", headers=auth(mtok))
        assert res.status_code == 200, res.text

    page = pages()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "op-wall", PASSWORD, "/board")
    expect(page.locator("#board")).to_have_attribute("data-ready", "1")
    _assert_cards_whole(page, "zh")
    shots(page, "wall-zh", full_page=False)
    assert not errors, errors

    page.locator("#lang-switch").click()
    expect(page.locator("#h-new")).to_contain_text("To dispatch")
    _assert_cards_whole(page, "en")
    expect(page.locator("#live-status")).to_have_text("Live")
    shots(page, "wall-en", full_page=False)
    # nothing Chinese left on the board's own texts (place and case contents are data)
    chrome = page.locator(
        ".kpis, .queues h3, .legend, #hotspots h2, header.top nav, .map-tools, #live-status, #sound-toggle"
    )
    chrome = chrome.all_inner_texts()
    assert not [t for t in chrome if re.search(r"[\u4e00-\u9fff]", t)], chrome

    # the members are clustered (300 squares would bury the map) and can be hidden
    toggle = page.locator("#members-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#map .member-icon")).to_have_count(0)
    toggle.click()
    expect(page.locator("#map .member-icon")).to_have_count(1)

    # a new escalation: the alarm shows its number in large type until the operator acknowledges it
    page.locator("#sound-toggle").click()
    expect(page.locator("#sound-toggle")).to_have_attribute("aria-pressed", "true")
    beeps = page.evaluate("window.__slBeeps || 0")  # the toggle itself plays one tone
    alone = _batch(api, key, "NEW", lonely, 1)[0]
    alarm = page.locator("#alert-banner .alert-item", has_text=alone["tracking_no"])
    expect(alarm).to_be_visible(timeout=5000)
    expect(alarm).to_contain_text("Escalated")
    px = alarm.locator(".alert-text").evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")
    assert px >= 28, px
    assert page.evaluate("window.__slBeeps || 0") > beeps  # the alarm's tone was played (sound is on)
    expect(page.locator("body")).to_have_class(re.compile(r"\balarming\b"))  # the screen's red frame
    shots(page, "alarm-en", full_page=False)
    alarm.get_by_role("button", name="Acknowledge").click()
    expect(alarm).to_have_count(0)
    expect(page.locator("body")).not_to_have_class(re.compile(r"\balarming\b"))

    # a manual assignment: the drawer says who the operator assigned, not "Accepted"; no Assign on that member
    page.locator("#lang-switch").click()
    town = lonely["parent_code"]
    qian = create_member(api, op, name="钱委员", town_code=town, lat=lonely["lat"], lon=lonely["lon"] + 0.002)
    create_member(api, op, name="孙委员", town_code=town, lat=lonely["lat"], lon=lonely["lon"] + 0.004)
    page.locator(f'#queue-new [data-case-id="{alone["id"]}"]').click()
    drawer = page.get_by_role("dialog")
    drawer.get_by_role("button", name="指派给 钱委员").click()
    expect(drawer.locator("#assign-msg")).to_have_text("已指派给 钱委员")
    status = drawer.locator("#d-status")
    expect(status).to_contain_text("已指派给 钱委员（值班员指派，待委员签收）", timeout=5000)
    expect(status).not_to_contain_text("已签收")
    current = drawer.locator("#candidates li[data-member-id]", has_text="钱委员")
    expect(current).to_contain_text("当前承办人")
    expect(current.locator("button.assign")).to_have_count(0)
    expect(drawer.get_by_role("button", name="改派给 孙委员")).to_be_visible()
    expect(drawer.locator("#timeline")).to_contain_text("值班员")
    card = page.locator(f'#queue-active [data-case-id="{alone["id"]}"]')
    expect(card).to_contain_text("已指派")
    expect(card).not_to_contain_text("已签收")
    shots(page, "manual-assignment-zh", full_page=False)

    # English: the same, in words
    page.locator("#lang-switch").click()
    expect(status).to_contain_text("Assigned to 钱委员 by the operator (not yet accepted by the member)")
    expect(current).to_contain_text("Current assignee")
    expect(card).to_contain_text("Assigned")
    expect(card).not_to_contain_text("Accepted")

    # a reassignment to another member is still possible, and the drawer follows it
    drawer.get_by_role("button", name="Reassign to 孙委员").click()
    expect(status).to_contain_text("Assigned to 孙委员 by the operator", timeout=5000)
    expect(drawer.locator("#candidates li[data-member-id]", has_text="孙委员")).to_contain_text("Current assignee")
    shots(page, "reassigned-en", full_page=False)
    current_id = qian["id"]
    got = api.get(f"/api/cases/{alone['id']}", headers=auth(op)).json()
    assert got["status"] == "assigned"
    assert got["assignee_id"] != current_id
