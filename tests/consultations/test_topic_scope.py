"""Who may link which cases to a consultation topic, what residents read of it, and whose phone numbers staff see.

- A member links only their own cases (offered to them at some time, or assigned to them); another case and an
  unknown id get the same 404, and nothing is created. Staff link any case.
- A resident's tracking page shows a topic only once staff decided on it (accepted on screening, or forwarded),
  with the title staff approved: a member's proposed title never reaches residents unreviewed.
- Experts' and members' phone numbers: in full for operators, masked for supervisors.
"""

from __future__ import annotations

from helpers import auth, create_member, user_token

T = "/api/consultations/topics"
OK = {k: {"ok": True} for k in ("political", "group_interest", "forward_looking", "democratic", "feasible")}


def _ok(res, status: int = 200) -> dict:
    assert res.status_code == status, res.text
    return res.json()


def _call(api, op: str, v: dict, text: str) -> dict:
    body = {"content": text, "caller_name": "李四", "caller_phone": "13900001111", "lat": v["lat"], "lon": v["lon"]}
    return _ok(api.post("/api/cases", json=body, headers=auth(op)), 201)


def _track(api, case: dict) -> dict:
    return _ok(api.get(f"/api/track/{case['tracking_no']}", params={"secret": case["secret"]}))


def _topic_ids(api, op: str) -> list[int]:
    return [t["id"] for t in _ok(api.get(T, headers=auth(op)))]


def _world(api) -> dict:
    op = user_token(api, "operator")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[7]
    near = {"town_code": v["parent_code"], "lat": v["lat"], "lon": v["lon"]}
    a = create_member(api, op, name="委员甲", **near)
    b = create_member(api, op, name="委员乙", on_duty=False, **near)
    ta = user_token(api, "member", "member-a", member_id=a["id"])
    # A's cases: one offered and accepted, one offered and declined (the rule still made it A's)
    accepted = _call(api, op, v, "路灯不亮 1")
    assert accepted["status"] == "offered", accepted
    _ok(api.post(f"/api/cases/{accepted['id']}/accept", headers=auth(ta)))
    declined = _call(api, op, v, "路灯不亮 2")
    _ok(api.post(f"/api/cases/{declined['id']}/decline", json={"reason": "在外地"}, headers=auth(ta)))
    # B's case: A off duty, nobody is offered it; the operator assigns it to B. A never saw it.
    _ok(api.patch(f"/api/members/{a['id']}", json={"on_duty": False}, headers=auth(op)))
    stranger = _call(api, op, v, "楼道堆放杂物")
    assert stranger["status"] == "escalated", stranger
    _ok(api.post(f"/api/cases/{stranger['id']}/assign", json={"member_id": b["id"]}, headers=auth(op)))
    return {"op": op, "v": v, "a": a, "ta": ta, "accepted": accepted, "declined": declined, "stranger": stranger}


def test_a_member_links_only_their_own_cases_and_cannot_tell_foreign_from_unknown(api):
    w = _world(api)
    op, ta, stranger = w["op"], w["ta"], w["stranger"]
    before = _topic_ids(api, op)

    def propose(case_ids: list[int]):
        body = {"title": "委员提议：楼道整治", "description": "x", "case_ids": case_ids}
        return api.post(T, json=body, headers=auth(ta))

    foreign, unknown, huge = propose([stranger["id"]]), propose([999_999]), propose([2**40])
    errors = []
    for res, case_id in ((foreign, stranger["id"]), (unknown, 999_999), (huge, 2**40)):
        assert res.status_code == 404, res.text
        err = res.json()["error"]
        assert err["details"] == {"id": case_id}
        errors.append({**err, "details": {}})
    assert errors[0] == errors[1] == errors[2]  # same status, code, message and shape: nothing to enumerate
    assert errors[0]["code"] == "case_not_found"
    # a mix of own and foreign ids: refused whole, the own case is not linked either
    assert propose([w["accepted"]["id"], stranger["id"]]).status_code == 404
    assert _topic_ids(api, op) == before
    assert _track(api, stranger)["consultation"] is None

    # the member's own cases, accepted or declined, link
    mine = _ok(propose([w["declined"]["id"], w["accepted"]["id"]]), 201)
    assert mine["case_ids"] == sorted([w["accepted"]["id"], w["declined"]["id"]])
    assert (mine["source"], mine["proposer_id"]) == ("proposal", w["a"]["id"])

    # staff link any case
    staff = _ok(api.post(T, json={"title": "楼道杂物清理", "case_ids": [stranger["id"]]}, headers=auth(op)), 201)
    assert staff["case_ids"] == [stranger["id"]]
    res = api.post(T, json={"title": "x", "case_ids": [999_999]}, headers=auth(op))
    assert res.status_code == 404 and res.json()["error"]["code"] == "case_not_found"


def test_residents_read_only_what_staff_approved(api):
    w = _world(api)
    op, ta, accepted, stranger = w["op"], w["ta"], w["accepted"], w["stranger"]
    proposed = _ok(
        api.post(T, json={"title": "委员自拟：张三家门口的路灯", "case_ids": [accepted["id"]]}, headers=auth(ta)), 201
    )
    # proposed, not yet reviewed: the resident sees no topic at all
    assert _track(api, accepted)["consultation"] is None
    page = api.get(f"/t/{accepted['tracking_no']}", params={"secret": accepted["secret"]})
    assert "张三家门口" not in page.text

    # staff accept it with the title residents may read
    body = {"decision": "accept", "principles": OK, "public_title": "小区路灯整治"}
    screened = _ok(api.post(f"{T}/{proposed['id']}/screening", json=body, headers=auth(op)))
    assert screened["title"] == "委员自拟：张三家门口的路灯"  # staff still see the proposal as written
    seen = _track(api, accepted)["consultation"]
    assert (seen["title"], seen["status"]) == ("小区路灯整治", "screened")

    # an operator's topic also waits for screening; accepted without a public title, its own title shows
    staff = _ok(api.post(T, json={"title": "楼道杂物清理", "case_ids": [stranger["id"]]}, headers=auth(op)), 201)
    assert _track(api, stranger)["consultation"] is None
    _ok(api.post(f"{T}/{staff['id']}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    assert _track(api, stranger)["consultation"]["title"] == "楼道杂物清理"

    # a later proposal on the same case does not replace the approved topic on the resident's page
    _ok(api.post(T, json={"title": "委员又拟：另一标题", "case_ids": [accepted["id"]]}, headers=auth(ta)), 201)
    assert _track(api, accepted)["consultation"]["title"] == "小区路灯整治"


def test_phone_numbers_in_full_for_operators_masked_for_supervisors(api):
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    body = {"name": "王专家", "phone": "13812345678", "organisation": "市规划院", "fields": ["城建"]}
    created = _ok(api.post("/api/consultations/experts", json=body, headers=auth(op)), 201)
    assert created["phone"] == "13812345678"
    member = create_member(api, op, name="赵委员", phone="13700001234", level="district")
    for token, phone, member_phone in ((op, "13812345678", "13700001234"), (sup, "138****5678", "137****1234")):
        [listed] = _ok(api.get("/api/consultations/experts", headers=auth(token)))
        one = _ok(api.get(f"/api/consultations/experts/{created['id']}", headers=auth(token)))
        assert listed["phone"] == one["phone"] == phone
        [m] = [x for x in _ok(api.get("/api/members", headers=auth(token))) if x["id"] == member["id"]]
        assert m["phone"] == member_phone
