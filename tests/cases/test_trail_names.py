"""A case's timeline names who acted: the operator's account, the member by name, not ``operator:2`` or a member
account's user id."""

from __future__ import annotations

from helpers import auth, create_member, point_token, user_token


def test_the_timeline_names_the_operator_and_the_member_who_acted(api):
    op = user_token(api, "operator", "li-op")
    member = create_member(api, op, name="张委员", level="district", lat=33.35, lon=120.15)
    wang = user_token(api, "member", "zhang-acct", member_id=member["id"])
    case = api.post("/api/cases", json={"content": "路灯不亮", "lat": 33.3, "lon": 120.1}, headers=auth(op)).json()
    assert api.post(f"/api/cases/{case['id']}/assign", json={"member_id": member["id"]}, headers=auth(op)).is_success
    res = api.post(f"/api/cases/{case['id']}/progress", json={"note": "已到现场"}, headers=auth(wang))
    assert res.status_code == 200, res.text

    events = api.get(f"/api/cases/{case['id']}/events", headers=auth(op)).json()
    by_action = {e["action"]: e for e in events}
    assert by_action["assigned"]["actor"].startswith("operator:")
    assert by_action["assigned"]["actor_name"] == "li-op"
    # the member's own account acts as the member: the same actor the dispatcher's accept/decline record
    assert by_action["progress"]["actor"] == f"member:{member['id']}"
    assert by_action["progress"]["actor_name"] == "张委员"
    created = events[0]
    assert created["actor_name"] == "li-op"


def test_a_resident_case_names_no_one(api):
    op = user_token(api, "operator", "op-names")
    token = point_token(api, op)
    res = api.post(
        f"/api/intake/qr/{token}", data={"content": "路灯不亮", "category": "城乡建设", "phone": "13800001111"}
    )
    assert res.status_code == 201, res.text
    case_id = res.json()["id"]
    created = api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()[0]
    assert created["actor"] == "resident" and created["actor_name"] is None
