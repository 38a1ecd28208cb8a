"""What a consultation shows beyond the operator's page: the meeting notice on a member's phone, the outcome
on the linked resident's tracking page, and the coverage on the supervisor's page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import PASSWORD, auth, create_member, user_token
from playwright.sync_api import expect

from e2e.browser import login

T = "/api/consultations/topics"
OK = {k: {"ok": True, "note": ""} for k in ("political", "group_interest", "forward_looking", "democratic", "feasible")}


def _ok(res, status: int = 200) -> dict:
    assert res.status_code == status, res.text
    return res.json() if res.content else {}


def test_notice_outcome_and_coverage_reach_members_residents_and_supervisors(api, pages, shots):
    admin = user_token(api, "admin", "adm")
    op = user_token(api, "operator", "op")
    user_token(api, "supervisor", "sup")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[33]
    dept = _ok(api.post("/api/departments", json={"name": "区城管局"}, headers=auth(admin)), 201)
    point = _ok(api.post("/api/points", json={"name": "示范议事室", "village_code": v["code"]}, headers=auth(op)), 201)
    _ok(
        api.put(
            f"/api/consultations/points/{point['id']}/demonstration", json={"demonstration": True}, headers=auth(op)
        )
    )
    m = create_member(api, op, name="吴委员", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    user_token(api, "member", "wu", member_id=m["id"])
    case = _ok(
        api.post(
            "/api/cases",
            headers=auth(op),
            json={"content": "小区门口占道经营，行人只能走机动车道", "lat": v["lat"], "lon": v["lon"]},
        ),
        201,
    )

    topic = _ok(
        api.post(
            T, headers=auth(op), json={"title": "门口占道经营治理", "description": "来电反映", "case_ids": [case["id"]]}
        ),
        201,
    )
    tid = topic["id"]
    _ok(api.post(f"{T}/{tid}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    _ok(api.post(f"{T}/{tid}/participants", json={"kind": "member", "member_id": m["id"]}, headers=auth(op)), 201)
    _ok(api.post(f"{T}/{tid}/participants/confirm", json={}, headers=auth(op)))

    # the member's phone is open when the meeting is scheduled: the notice arrives live (the page lists meetings
    # once its socket is open, so the empty list below means the socket is live)
    phone = pages(mobile=True)
    login(phone, "wu", PASSWORD, "/m")
    expect(phone.locator("#meetings")).to_contain_text("暂无")
    starts = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    meeting = _ok(
        api.post(
            f"{T}/{tid}/meetings",
            headers=auth(op),
            json={"kind": "bench", "starts_at": starts, "point_id": point["id"], "agenda": "商量摊位划定"},
        ),
        201,
    )
    expect(phone.locator("#meeting-notice")).to_contain_text("门口占道经营治理", timeout=3000)
    expect(phone.locator(f"#meetings [data-meeting-id='{meeting['id']}']")).to_contain_text("示范议事室")
    shots(phone, "member-notice")

    # held, an outcome with its department, progress on the ledger: the resident sees it
    # the meeting is set two days ahead: held early, so with the reason the trail keeps
    _ok(api.post(f"/api/meetings/{meeting['id']}/held", json={"reason": "委员与居民约定提前召开"}, headers=auth(op)))
    outcome = _ok(
        api.post(
            f"{T}/{tid}/outcomes",
            headers=auth(op),
            json={
                "text": "划定早市疏导区，门口严禁摆摊",
                "department_id": dept["id"],
                "due_date": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
            },
        ),
        201,
    )
    _ok(api.post(f"{T}/{tid}/report", json={}, headers=auth(op)))
    _ok(
        api.post(
            f"/api/consultations/outcomes/{outcome['id']}/ledger",
            headers=auth(op),
            json={"note": "疏导区已划线", "percent": 50},
        ),
        201,
    )
    resident = pages(mobile=True)
    resident.goto(f"/t/{case['tracking_no']}#s={case['secret']}")
    box = resident.locator("#consultation-box")
    expect(box).to_be_visible()
    expect(box).to_contain_text("门口占道经营治理")
    expect(box).to_contain_text("划定早市疏导区")
    expect(box).to_contain_text("区城管局")
    expect(box).to_contain_text("50%")
    shots(resident, "resident-outcome")

    # the supervisor's page: the town held one of the demonstration point's four
    supervisor = pages()
    login(supervisor, "sup", PASSWORD, "/inspect")
    row = supervisor.locator(f"#coverage-table tbody tr[data-town='{v['parent_code']}']")
    expect(row).to_be_visible()
    cells = row.locator("td")
    expect(cells.nth(2)).to_have_text("1")  # held
    expect(cells.nth(3)).to_have_text("4")  # target
    expect(cells.nth(4)).to_have_text("未达标")
    shots(supervisor, "inspect-coverage")
