"""What follows a case's move is decided once, by the subscribers of ``dispatch.wiring``, whichever door the move
came through: a resolution makes exactly one reply to the resident and one callback (回访) task; a reopened case is
offered again by one rule; a case leaving its resolution cancels its open callback tasks at once."""

from __future__ import annotations

import pytest
from helpers import api_key, auth, create_member, member_socket, recv_until, user_token

from dispatch.cases import states
from dispatch.wiring import install

PHONE = "13912345678"
NO_SWEEP = pytest.mark.settings(sweep_interval_s=3600)  # nothing but the subscribers acts


def _village(api, op: str) -> dict:
    return api.get("/api/regions?level=village", headers=auth(op)).json()[10]


def _member(api, op: str, v: dict, name: str, north: float = 0.0) -> tuple[int, str]:
    m = create_member(api, op, name=name, town_code=v["parent_code"], lat=v["lat"] + north, lon=v["lon"])
    return m["id"], user_token(api, "member", f"m{m['id']}", member_id=m["id"])


def _case(api, op: str, v: dict) -> dict:
    body = {
        "content": "小区门口路灯不亮",
        "caller_name": "李女士",
        "caller_phone": PHONE,
        "lat": v["lat"],
        "lon": v["lon"],
    }
    res = api.post("/api/cases", json=body, headers=auth(op))
    assert res.status_code == 201, res.text
    return res.json()


def _get(api, op: str, case_id: int) -> dict:
    return api.get(f"/api/cases/{case_id}", headers=auth(op)).json()


def _follow_ups(api, op: str, case_id: int) -> tuple[int, list[tuple[str, str, str | None]]]:
    """(reply rows to the resident, [(task reason, status, cancel reason)]) of the case."""
    replies = api.get("/api/notifications", params={"case_id": case_id}, headers=auth(op))
    assert replies.status_code == 200, replies.text
    every = "open,claimed,done,cancelled"
    tasks = api.get("/api/callbacks", params={"case_id": case_id, "status": every}, headers=auth(op)).json()
    return len(replies.json()), sorted((t["reason"], t["status"], t["cancel_reason"]) for t in tasks)


def _ok(res) -> dict:
    assert res.status_code == 200, res.text
    return res.json()


def test_the_subscriptions_are_installed_once_whatever_imports_them():
    before = states.subscriptions()
    install()
    assert states.subscriptions() == before and len(before) == len({s.handler for s in before})


@NO_SWEEP
def test_a_reopened_case_goes_back_to_its_handler_then_to_the_next_member_then_to_the_operators(api):
    op = user_token(api, "operator")
    v = _village(api, op)
    handler, handler_token = _member(api, op, v, "承办委员")
    other, other_token = _member(api, op, v, "邻近委员", north=0.003)
    case = _case(api, op, v)
    assert _get(api, op, case["id"])["offered_to"] == handler
    _ok(api.post(f"/api/cases/{case['id']}/accept", headers=auth(handler_token)))
    _ok(api.post(f"/api/cases/{case['id']}/resolve", json={"note": "已更换灯泡"}, headers=auth(handler_token)))
    rate = {"secret": case["secret"], "score": "dissatisfied", "comment": "还是不亮"}

    # dissatisfied: reopened and offered again at once, to the member who handled it (the nearest eligible)
    assert _ok(api.post(f"/api/track/{case['tracking_no']}/rating", json=rate))["status"] == "offered"
    assert _get(api, op, case["id"])["offered_to"] == handler
    # who declines is not asked again: the next member is
    _ok(api.post(f"/api/cases/{case['id']}/decline", json={"reason": "出差"}, headers=auth(handler_token)))
    assert (_get(api, op, case["id"])["status"], _get(api, op, case["id"])["offered_to"]) == ("offered", other)
    _ok(api.post(f"/api/cases/{case['id']}/accept", headers=auth(other_token)))
    _ok(api.post(f"/api/cases/{case['id']}/resolve", json={"note": "已修复线路"}, headers=auth(other_token)))

    # dissatisfied again: back to its latest handler; once everyone eligible has declined, to the operators
    assert _ok(api.post(f"/api/track/{case['tracking_no']}/rating", json=rate))["status"] == "offered"
    assert _get(api, op, case["id"])["offered_to"] == other
    _ok(api.post(f"/api/cases/{case['id']}/decline", json={"reason": "不熟悉"}, headers=auth(other_token)))
    assert _get(api, op, case["id"])["status"] == "escalated"
    trail = [(e["action"], e["to_status"]) for e in _ok(api.get(f"/api/cases/{case['id']}/events", headers=auth(op)))]
    assert trail.count(("rated", "reopened")) == 2 and trail[-1] == ("escalated", "escalated")
    # every slot was given back: both members are free again
    loads = {m["id"]: m["load"] for m in _ok(api.get("/api/members", headers=auth(op)))}
    assert (loads[handler], loads[other]) == (0, 0)


@NO_SWEEP
def test_every_door_to_a_resolution_makes_one_reply_and_one_callback_task(api, server):
    op = user_token(api, "operator")
    admin = user_token(api, "admin")
    v = _village(api, op)
    member, member_token = _member(api, op, v, "承办委员")

    # a member resolves the case offered to them
    by_member = _case(api, op, v)
    _ok(api.post(f"/api/cases/{by_member['id']}/accept", headers=auth(member_token)))
    _ok(api.post(f"/api/cases/{by_member['id']}/resolve", json={"note": "已修复"}, headers=auth(member_token)))
    assert _follow_ups(api, op, by_member["id"]) == (1, [("resolved", "open", None)])

    # an operator resolves a case forwarded to a department, on the department's answer; the member's slot is back
    dept = api.post("/api/departments", json={"name": "区住建局"}, headers=auth(admin)).json()
    forwarded = _case(api, op, v)
    assert _get(api, op, forwarded["id"])["offered_to"] == member
    with member_socket(server, member_token) as phone:  # the member whose offer is withdrawn is told
        _ok(api.post(f"/api/cases/{forwarded['id']}/forward", json={"department_id": dept["id"]}, headers=auth(op)))
        # the socket may first see the earlier offer of this case; the withdrawal must follow
        (gone,) = recv_until(phone, 1, case_id=forwarded["id"], actions=("forwarded",))
    assert (gone["action"], gone["case"]["status"], gone["case"]["offered_to"]) == ("forwarded", "forwarded", None)
    assert _follow_ups(api, op, forwarded["id"]) == (0, [])
    _ok(api.post(f"/api/cases/{forwarded['id']}/resolve", json={"note": "住建局已处理"}, headers=auth(op)))
    assert _follow_ups(api, op, forwarded["id"]) == (1, [("resolved", "open", None)])

    # a case that came in by Open311, resolved by its member; the client's later comment changes nothing
    key = api_key("open311")
    fields = {"api_key": key, "service_code": "0101", "attribute[subcategory]": "010103", "phone": PHONE}
    fields |= {"lat": str(v["lat"]), "long": str(v["lon"]), "description": "路口井盖松动，有安全隐患"}
    posted = api.post("/open311/v2/requests.json", data=fields)
    assert posted.status_code in (200, 201), posted.text
    open311 = int(posted.json()[0]["service_request_id"])
    _ok(api.post(f"/api/cases/{open311}/accept", headers=auth(member_token)))
    _ok(api.post(f"/api/cases/{open311}/resolve", json={"note": "已加固井盖"}, headers=auth(member_token)))
    comment = {"api_key": key, "service_request_id": str(open311), "description": "谢谢", "status": "closed"}
    assert api.post("/open311/v2/servicerequestupdates.json", data=comment).status_code in (200, 201)
    assert _follow_ups(api, op, open311) == (1, [("resolved", "open", None)])

    # the callback call: the score by phone closes the case; no second reply, no second task
    (task,) = _ok(api.get("/api/callbacks", params={"case_id": by_member["id"]}, headers=auth(op)))
    call = {"outcome": "reached", "score": "satisfied", "note": "群众满意"}
    assert (
        _ok(api.post(f"/api/callbacks/{task['id']}/complete", json=call, headers=auth(op)))["case"]["status"]
        == "closed"
    )
    assert _follow_ups(api, op, by_member["id"]) == (1, [("resolved", "done", None)])

    # the 12345 platform closes a resolved work order: closed, and its open callback task cancelled at once
    hotline = {"X-API-Key": api_key("hotline")}
    order = {"external_id": "WO-31", "content": "路灯不亮", "caller_phone": PHONE, "lat": v["lat"], "lon": v["lon"]}
    created = api.post("/api/intake/hotline", json=order, headers=hotline)
    assert created.status_code == 201, created.text
    from_hotline = created.json()["id"]
    _ok(api.post(f"/api/cases/{from_hotline}/accept", headers=auth(member_token)))
    _ok(api.post(f"/api/cases/{from_hotline}/resolve", json={"note": "已修复"}, headers=auth(member_token)))
    closing = api.post("/api/intake/hotline", json=order | {"version": 2, "platform_status": "closed"}, headers=hotline)
    assert closing.status_code == 200 and closing.json()["status"] == "closed", closing.text
    assert _follow_ups(api, op, from_hotline) == (1, [("resolved", "cancelled", "case_changed")])

    # reopened by the resident and resolved again: one more of each, for the new resolution
    again = _case(api, op, v)
    _ok(api.post(f"/api/cases/{again['id']}/accept", headers=auth(member_token)))
    _ok(api.post(f"/api/cases/{again['id']}/resolve", json={"note": "已修复"}, headers=auth(member_token)))
    rate = {"secret": again["secret"], "score": "dissatisfied"}
    assert _ok(api.post(f"/api/track/{again['tracking_no']}/rating", json=rate))["status"] == "offered"
    assert _follow_ups(api, op, again["id"]) == (1, [("resolved", "cancelled", "rated")])
    _ok(api.post(f"/api/cases/{again['id']}/accept", headers=auth(member_token)))
    _ok(api.post(f"/api/cases/{again['id']}/resolve", json={"note": "已彻底修复"}, headers=auth(member_token)))
    assert _follow_ups(api, op, again["id"]) == (2, [("resolved", "cancelled", "rated"), ("resolved", "open", None)])
