"""One case through all four faces, in real browsers side by side: a resident reports by QR code, the board
sees it live, the member accepts and resolves on a phone, the resident rates, the supervisor counts it."""

from __future__ import annotations

import io
import re

from helpers import PASSWORD, auth, create_member, user_token
from PIL import Image
from playwright.sync_api import expect

from e2e.browser import login


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 60)).save(buf, "JPEG")
    return buf.getvalue()


def test_a_case_from_qr_code_to_satisfied_resident(api, pages, shots):
    op = user_token(api, "operator", "op")
    user_token(api, "supervisor", "sup")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[77]
    point = api.post(
        "/api/points",
        headers=auth(op),
        json={"name": "和谐议事室", "kind": "consultation_room", "village_code": v["code"]},
    ).json()
    member = create_member(api, op, name="陈委员", town_code=v["parent_code"], lat=v["lat"] + 0.003, lon=v["lon"])
    user_token(api, "member", "chen", member_id=member["id"])

    board = pages()
    login(board, "op", PASSWORD, "/board")
    expect(board.locator("#live-status")).to_contain_text("实时连接")
    phone = pages(mobile=True, geolocation={"latitude": v["lat"] + 0.003, "longitude": v["lon"]})
    login(phone, "chen", PASSWORD, "/m")
    expect(phone.locator("#live-state")).to_contain_text("实时")

    # the resident scans the point's code and reports with a photo
    resident = pages(mobile=True)
    resident.goto(f"/q/{point['qr_token']}")
    resident.get_by_label("诉求分类").select_option("城乡建设")
    resident.get_by_label("诉求内容").fill("议事室门前路灯坏了，老人晚上出门不安全")
    resident.set_input_files("#photos", files=[{"name": "lamp.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    shots(resident, "resident-form")
    resident.get_by_role("button", name="提交").click()
    resident.wait_for_url(re.compile(r"/t/[^#]+#s="))
    tracking = resident.locator("#tracking-no").inner_text().strip()
    assert re.fullmatch(r"YD\d{8}-\d{4}", tracking)
    shots(resident, "resident-tracking")
    case = next(c for c in api.get("/api/cases", headers=auth(op)).json() if c["tracking_no"] == tracking)
    assert (case["channel"], case["village_code"], len(case["attachments"])) == ("qr", v["code"], 1)

    # the open board shows it within two seconds, without reload: a queue card and a map marker
    card = board.locator(f"#queue-offered [data-case-id='{case['id']}']")
    expect(card).to_be_visible(timeout=2000)
    board.locator("#map-list").focus()
    board.keyboard.press("Enter")  # the map's markers as a list: the case is on the map
    expect(board.locator(f"#map-cases [data-case-id='{case['id']}']")).to_contain_text(case["tracking_no"])
    board.locator(f"#queue-offered [data-case-id='{case['id']}']").focus()  # the list goes with the focus
    shots(board, "board-offered")

    # the member's phone shows the offer; the member accepts; the board moves the card
    offer = phone.locator(f"#offers [data-case-id='{case['id']}']")
    expect(offer).to_be_visible(timeout=2000)
    expect(phone.locator("#offer-badge")).to_have_text("1")
    shots(phone, "member-offer")
    offer.get_by_role("button", name="签收").click()
    active = phone.locator(f"#active [data-case-id='{case['id']}']")
    expect(active).to_be_visible()
    expect(board.locator(f"#queue-active [data-case-id='{case['id']}']")).to_be_visible(timeout=2000)
    expect(card).to_have_count(0)
    shots(board, "board-accepted")

    # the member resolves
    active.get_by_text("办结", exact=True).click()
    active.get_by_label("办理结果（必填）").fill("已更换灯具，当晚恢复照明")
    active.get_by_role("button", name="确认办结").click()
    expect(phone.locator("#m-ok")).to_contain_text("已办结")
    expect(board.locator(f"#queue-active [data-case-id='{case['id']}']")).to_have_count(0, timeout=2000)
    shots(phone, "member-resolved")

    # the resident sees the result and is satisfied
    resident.get_by_role("button", name="刷新").click()
    expect(resident.locator("#status")).to_have_text("已办结")
    form = resident.locator("#rating-form")
    form.get_by_label("满意", exact=True).check()
    form.get_by_role("button", name="提交评价").click()
    expect(resident.locator("#status")).to_have_text("已关闭")
    shots(resident, "resident-rated")
    assert api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["rating"] == "satisfied"

    # the supervisor's page counts it for the town
    supervisor = pages()
    login(supervisor, "sup", PASSWORD, "/inspect")
    row = supervisor.locator(f"#towns-table tbody tr[data-town='{v['parent_code']}']")
    expect(row).to_be_visible()
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text("1")  # intake
    expect(cells.nth(1)).to_have_text("1")  # resolved
    expect(cells.nth(4)).to_have_text("100.0%")  # satisfaction
    shots(supervisor, "inspect")
