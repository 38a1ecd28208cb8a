"""Case views by role, the resident's tracking and rating, forwarding and merging."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from helpers import api_key, auth, create_member, user_token

PHONE = "13812345678"


def _setup(api):
    op = user_token(api, "operator")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[10]
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], phone="13900001111")
    return op, v, m


def _call(api, op, v, **extra) -> dict:
    body = {"content": "楼上漏水", "caller_name": "张三", "caller_phone": PHONE, "lat": v["lat"], "lon": v["lon"]}
    res = api.post("/api/cases", json=body | extra, headers=auth(op))
    assert res.status_code == 201, res.text
    return res.json()


def test_tracking_numbers_count_per_day_in_shanghai_time(api):
    op, v, _ = _setup(api)
    a, b = _call(api, op, v), _call(api, op, v)
    day = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert (a["tracking_no"], b["tracking_no"]) == (f"YD{day}-0001", f"YD{day}-0002")
    case = api.get(f"/api/cases/{a['id']}", headers=auth(op)).json()
    assert re.search(r"[+-]\d\d:\d\d$|Z$", case["created_at"])  # times carry an offset


def test_phone_numbers_are_masked_for_roles_that_do_not_need_them(api):
    op, v, m = _setup(api)
    case = _call(api, op, v)
    sup = user_token(api, "supervisor")
    member = user_token(api, "member", "m", member_id=m["id"])
    assert api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["reporter_phone"] == PHONE
    assert api.get(f"/api/cases/{case['id']}", headers=auth(sup)).json()["reporter_phone"] == "138****5678"
    # offered, not yet accepted: masked; once assigned the member may call the resident back
    assert api.get(f"/api/cases/{case['id']}", headers=auth(member)).json()["reporter_phone"] == "138****5678"
    api.post(f"/api/cases/{case['id']}/accept", headers=auth(member))
    assert api.get(f"/api/cases/{case['id']}", headers=auth(member)).json()["reporter_phone"] == PHONE
    # a confidential reporter stays hidden from the member
    secret_case = _call(api, op, v, confidential=True)
    api.post(f"/api/cases/{secret_case['id']}/accept", headers=auth(member))
    seen = api.get(f"/api/cases/{secret_case['id']}", headers=auth(member)).json()
    assert (seen["reporter_phone"], seen["reporter_name"]) == ("138****5678", "***")
    # members list: phones masked for supervisors
    assert api.get("/api/members", headers=auth(sup)).json()[0]["phone"] == "139****1111"
    assert api.get("/api/members", headers=auth(op)).json()[0]["phone"] == "13900001111"


def test_resident_follows_and_rates_and_dissatisfaction_reopens(api):
    op, v, m = _setup(api)
    case = _call(api, op, v)
    no, secret = case["tracking_no"], case["secret"]
    assert api.get(f"/api/track/{no}").status_code == 404
    assert api.get(f"/api/track/{no}?secret=wrong").json()["error"]["code"] == "case_not_found"
    member = user_token(api, "member", "m", member_id=m["id"])
    api.post(f"/api/cases/{case['id']}/accept", headers=auth(member))
    early = api.post(f"/api/track/{no}/rating", json={"secret": secret, "score": "satisfied"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_rateable"
    api.post(f"/api/cases/{case['id']}/resolve", json={"note": "已维修"}, headers=auth(member))
    tracked = api.get(f"/api/track/{no}?secret={secret}").json()
    assert tracked["status"] == "resolved" and tracked["resolution"] == "已维修"
    assert [t["action"] for t in tracked["timeline"]] == ["created", "offered", "accepted", "resolved"]
    res = api.post(f"/api/track/{no}/rating", json={"secret": secret, "score": "dissatisfied", "comment": "还在漏"})
    # reopened, and offered again at once: to its handler, the nearest eligible member, who can take it up again
    assert res.status_code == 200 and res.json()["status"] == "offered"
    assert api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["offered_to"] == m["id"]
    trail = [(e["action"], e["to_status"]) for e in api.get(f"/api/cases/{case['id']}/events", headers=auth(op)).json()]
    assert trail[-2:] == [("rated", "reopened"), ("offered", "offered")]
    assert api.post(f"/api/cases/{case['id']}/accept", headers=auth(member)).json()["status"] == "assigned"
    assert api.post(f"/api/track/{no}/rating", json={"secret": "x", "score": "satisfied"}).status_code == 404


def test_forward_and_merge(api):
    op, v, m = _setup(api)
    admin = user_token(api, "admin")
    dept = api.post("/api/departments", json={"name": "区水务局"}, headers=auth(admin)).json()
    assert api.post("/api/departments", json={"name": "区水务局"}, headers=auth(op)).status_code == 403
    a, b = _call(api, op, v), _call(api, op, v)
    res = api.post(f"/api/cases/{a['id']}/forward", json={"department_id": dept["id"]}, headers=auth(op))
    assert res.status_code == 200 and res.json()["status"] == "forwarded" and res.json()["offered_to"] is None
    res = api.post(f"/api/cases/{b['id']}/merge", json={"into_id": a["id"]}, headers=auth(op))
    assert res.status_code == 200 and res.json()["merged_into_id"] == a["id"]
    again = api.post(f"/api/cases/{b['id']}/merge", json={"into_id": a["id"]}, headers=auth(op))
    assert again.status_code == 409 and again.json()["error"]["details"]["allowed"] == []
    assert api.get(f"/api/members/{m['id']}", headers=auth(op)).json()["load"] == 0


def test_roles_guard_the_case_endpoints(api):
    op, v, m = _setup(api)
    case = _call(api, op, v)
    sup = user_token(api, "supervisor")
    assert api.get("/api/cases").status_code == 401
    assert api.get("/api/cases", headers=auth("garbage")).status_code == 401
    assert (
        api.post(f"/api/cases/{case['id']}/assign", json={"member_id": m["id"]}, headers=auth(sup)).status_code == 403
    )
    assert api.post(f"/api/cases/{case['id']}/accept", headers=auth(op)).status_code == 403
    key = api_key()
    assert api.get("/api/cases", headers={"X-API-Key": key}).status_code == 403
    res = api.get(f"/api/cases/{case['id']}/events", headers=auth(sup))
    assert res.status_code == 200 and res.json()[0]["action"] == "created"


def test_the_operator_confirms_a_category_and_the_trail_keeps_the_old_one(api):
    op, v, m = _setup(api)
    case = _call(api, op, v)
    sup = user_token(api, "supervisor")
    body = {"category": "劳动和社会保障"}
    assert api.post(f"/api/cases/{case['id']}/category", json=body, headers=auth(sup)).status_code == 403
    bad = api.post(f"/api/cases/{case['id']}/category", json={"category": "不存在"}, headers=auth(op))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_category"
    res = api.post(f"/api/cases/{case['id']}/category", json=body, headers=auth(op))
    assert res.status_code == 200 and res.json()["category"] == "劳动和社会保障"
    last = api.get(f"/api/cases/{case['id']}/events", headers=auth(op)).json()[-1]
    assert last["action"] == "categorised" and (last["data"]["from"], last["data"]["to"]) == (None, "劳动和社会保障")
    assert last["data"]["due_from"] == last["data"]["due_to"]  # the general rule either way: same deadline


def test_the_open_due_index_covers_exactly_the_open_statuses():
    """The partial index behind the overdue list spells the open statuses out in SQL; it must follow them."""
    import re

    from dispatch.cases.models import OPEN_SQL
    from dispatch.cases.states import OPEN_STATUSES

    assert set(re.findall(r"'(\w+)'", OPEN_SQL)) == set(OPEN_STATUSES)


def test_the_board_reads_open_cases_as_cards_page_by_page_without_text_or_reporter(api):
    op, v, m = _setup(api)
    made = [_call(api, op, v, content=f"第{i}号：楼上漏水") for i in range(5)]
    first = api.get("/api/cases/cards?status=new,offered,escalated&limit=3", headers=auth(op))
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page] == [c["id"] for c in reversed(made)][:3]  # newest first
    assert page[0]["tracking_no"] == made[-1]["tracking_no"]
    assert not {"content", "title", "reporter_name", "reporter_phone", "attachments"} & set(page[0])
    after = page[-1]["id"]
    rest = api.get(f"/api/cases/cards?status=new,offered,escalated&limit=3&before_id={after}", headers=auth(op)).json()
    assert [c["id"] for c in page + rest] == [c["id"] for c in reversed(made)]
    offered = rest[-1]  # the first call went to the member, whose offer is still open
    assert offered["status"] == "offered" and offered["offered_to"] == m["id"]
    assert (
        offered["deadlines"]["offer_expires_at"]
        == api.get(f"/api/cases/{offered['id']}", headers=auth(op)).json()["deadlines"]["offer_expires_at"]
    )
    member = user_token(api, "member", "m", member_id=m["id"])
    assert api.get("/api/cases/cards", headers=auth(member)).status_code == 403  # the board's, not a member's
    assert api.get("/api/cases/cards?limit=5&offset=2", headers=auth(op)).json()["error"]["code"] == "unknown_parameter"
