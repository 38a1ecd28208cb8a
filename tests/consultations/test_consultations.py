"""Consultations (协商) through HTTP: a topic from a cluster of hotline cases, screened by the five principles,
participants with a reproducible expert draw, a meeting with live notices and QR check-in, outcomes on a ledger,
a follow-up review fired by an RQ job, the evaluation panel, the residents' tracking pages, and coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from helpers import api_key, auth, board, create_member, decode_png, recv_until, user_token
from sqlmodel import Session
from websockets.sync.client import connect

from dispatch.cases.models import Case
from dispatch.cases.service import hash_secret
from dispatch.consultations.models import FollowUp
from dispatch.db import get_engine

OK = {
    k: {"ok": True, "note": "符合"}
    for k in ("political", "group_interest", "forward_looking", "democratic", "feasible")
}
T = "/api/consultations/topics"


def _ok(res, status: int = 200) -> dict:
    assert res.status_code == status, res.text
    return res.json() if res.content else {}


def _world(api) -> dict:
    admin = user_token(api, "admin")
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = villages[10]
    other = next(x for x in villages if x["parent_code"] != v["parent_code"])
    dept = _ok(api.post("/api/departments", json={"name": "区住建局"}, headers=auth(admin)), 201)
    point = _ok(api.post("/api/points", json={"name": "协商议事室", "village_code": v["code"]}, headers=auth(op)), 201)
    near = {"town_code": v["parent_code"], "lat": v["lat"], "lon": v["lon"]}
    members = [create_member(api, op, name=f"委员{i}", **near) for i in range(3)]
    return {"admin": admin, "op": op, "v": v, "other": other, "dept": dept, "point": point, "members": members}


def _hotline(api, key: str, v: dict, n: int) -> dict:
    body = {"external_id": f"12345-{n}", "content": f"小区路灯不亮 {n}", "lat": v["lat"], "lon": v["lon"]}
    return _ok(api.post("/api/intake/hotline", json=body, headers={"X-API-Key": key}), 201)


def _call(api, op: str, v: dict) -> dict:
    body = {"content": "小区路灯长期不亮，晚上出行不便", "caller_name": "李四", "lat": v["lat"], "lon": v["lon"]}
    return _ok(api.post("/api/cases", json=body, headers=auth(op)), 201)


def _expert(api, op: str, name: str, **fields) -> dict:
    body = {"name": name, "organisation": "市规划院", "fields": ["城建"]} | fields
    return _ok(api.post("/api/consultations/experts", json=body, headers=auth(op)), 201)


def _topic(api, token: str, case_ids: list[int], **extra) -> dict:
    body = {"title": "小区路灯整治", "description": "三件 12345 工单反映同一问题", "case_ids": case_ids} | extra
    return _ok(api.post(T, json=body, headers=auth(token)), 201)


def test_the_full_path_from_hotline_cases_to_a_closed_topic(api, server):
    w = _world(api)
    op, v, dept, point = w["op"], w["v"], w["dept"], w["point"]
    m1, m2, outsider = w["members"]
    key = api_key()
    cases = [_hotline(api, key, v, 1), _hotline(api, key, v, 2), _call(api, op, v)]
    secrets = {cases[2]["tracking_no"]: cases[2]["secret"]}
    with Session(get_engine()) as session:  # the hotline answers no secret: give those residents one
        for i, c in enumerate(cases[:2]):
            row = session.get(Case, c["id"])
            row.secret_hash = hash_secret(f"resident-{i}")
            session.add(row)
            secrets[c["tracking_no"]] = f"resident-{i}"
        session.commit()
    _ok(
        api.put(
            f"/api/consultations/points/{point['id']}/demonstration", json={"demonstration": True}, headers=auth(op)
        )
    )

    # a topic from the cluster, in the cases' village
    topic = _topic(api, op, [c["id"] for c in cases])
    tid = topic["id"]
    assert (topic["status"], topic["source"], topic["village_code"]) == ("proposed", "cases", v["code"])
    assert topic["case_ids"] == sorted(c["id"] for c in cases)
    screened = _ok(api.post(f"{T}/{tid}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    assert screened["status"] == "screened"
    assert screened["screening"]["principles"]["feasible"]["ok"] is True

    # participants: two members, a department, a resident representative, and an expert drawn by field
    for body in (
        {"kind": "member", "member_id": m1["id"]},
        {"kind": "member", "member_id": m2["id"]},
        {"kind": "department", "department_id": dept["id"]},
        {"kind": "resident", "name": "王阿姨", "phone": "13700001111"},
    ):
        _ok(api.post(f"{T}/{tid}/participants", json=body, headers=auth(op)), 201)
    experts = [_expert(api, op, f"专家{i}") for i in range(5)]
    conflicted = _expert(api, op, "回避专家", conflict_towns=[v["parent_code"]])
    _expert(api, op, "别的领域", fields=["医疗"])
    _expert(api, op, "退出专家", active=False)
    drawn = _ok(api.post(f"{T}/{tid}/draws", json={"field": "城建", "seed": 20261121}, headers=auth(op)), 201)
    assert drawn["pool"] == [e["id"] for e in experts]  # conflicted, other field and inactive are not eligible
    assert conflicted["id"] not in drawn["pool"]
    assert len(drawn["picks"]) == 1 and drawn["seed"] == 20261121

    # the same seed and pool in a new topic draws the same expert; the conflicted expert is never drawn
    again = _topic(api, op, [], source="plan", village_code=v["code"], title="年度计划：同村另一议题")
    _ok(api.post(f"{T}/{again['id']}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    same = _ok(api.post(f"{T}/{again['id']}/draws", json={"field": "城建", "seed": 20261121}, headers=auth(op)), 201)
    assert (same["pool"], same["picks"]) == (drawn["pool"], drawn["picks"])
    for seed in range(40):
        d = _ok(
            api.post(f"{T}/{again['id']}/draws", json={"field": "城建", "seed": seed, "count": 1}, headers=auth(op)),
            201,
        )
        assert conflicted["id"] not in d["pool"] + d["picks"]
        if len(d["pool"]) == 1:
            break

    # a redraw with a reason replaces the pick and is recorded with its own seed
    first_pick = drawn["picks"][0]
    redrawn = _ok(
        api.post(
            f"{T}/{tid}/draws/{drawn['id']}/redraw",
            json={"expert_id": first_pick, "reason": "出差无法参加", "seed": 7},
            headers=auth(op),
        ),
        201,
    )
    assert (redrawn["replaces_expert_id"], redrawn["reason"], redrawn["seed"]) == (first_pick, "出差无法参加", 7)
    assert first_pick not in redrawn["pool"] and redrawn["picks"][0] != first_pick
    view = _ok(api.get(f"{T}/{tid}", headers=auth(op)))
    expert_ids = [p["expert_id"] for p in view["participants"] if p["kind"] == "expert"]
    assert expert_ids == redrawn["picks"]
    assert [d["id"] for d in view["draws"]] == [drawn["id"], redrawn["id"]]
    assert sorted(p["kind"] for p in view["participants"]) == ["department", "expert", "member", "member", "resident"]
    _ok(api.post(f"{T}/{tid}/participants/confirm", headers=auth(op)))

    # the meeting at the point: the notice arrives live on a participant member's phone
    t1 = user_token(api, "member", "m1", member_id=m1["id"])
    starts = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    meeting_body = {"kind": "bench", "starts_at": starts, "point_id": point["id"], "agenda": "路灯整治方案"}
    with connect(f"{server.ws_url}/ws/member?token={t1}", open_timeout=10) as ws:
        meeting = _ok(api.post(f"{T}/{tid}/meetings", json=meeting_body, headers=auth(op)), 201)
        notice = recv_until(ws, 1, types=("meeting.notice",))[0]
    assert notice["meeting"]["id"] == meeting["id"] and notice["meeting"]["point"]["name"] == "协商议事室"
    assert meeting["checkin_url"].endswith(f"/c/{meeting['checkin_token']}")
    assert len(meeting["checkin_token"]) >= 22

    # QR check-in by that member
    png = api.get(f"/api/meetings/{meeting['id']}/qr.png", headers=auth(op))
    assert png.headers["content-type"] == "image/png"
    svg = api.get(f"/api/meetings/{meeting['id']}/qr.svg", headers=auth(op))
    assert svg.status_code == 200 and b"<svg" in svg.content
    url = decode_png(png.content)
    assert url == meeting["checkin_url"]
    token = url.rsplit("/", 1)[1]
    checked = _ok(api.post(f"/api/meetings/checkin/{token}", headers=auth(t1)), 201)
    assert checked["member_id"] == m1["id"]
    again_in = api.post(f"/api/meetings/checkin/{token}", headers=auth(t1))
    assert again_in.status_code == 409 and again_in.json()["error"]["code"] == "already_checked_in"
    t_out = user_token(api, "member", "outsider", member_id=outsider["id"])
    denied = api.post(f"/api/meetings/checkin/{token}", headers=auth(t_out))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "not_a_participant"
    assert api.post("/api/meetings/checkin/not-a-token", headers=auth(t1)).status_code == 404
    present = _ok(api.get(f"/api/meetings/{meeting['id']}/attendance", headers=auth(op)))
    assert [(a["member_id"], a["name"]) for a in present] == [(m1["id"], "委员0")]
    # members see their own topics only
    assert [t["id"] for t in _ok(api.get(T, headers=auth(t1)))] == [tid]
    assert api.get(f"{T}/{tid}", headers=auth(t_out)).status_code == 404

    minutes = _ok(
        api.put(f"/api/meetings/{meeting['id']}/minutes", json={"minutes": "议定：更换路灯"}, headers=auth(op))
    )
    assert minutes["minutes"] == "议定：更换路灯"
    # two days before its start: marked held only with the reason it was held early, which the trail keeps
    early = _ok(api.post(f"/api/meetings/{meeting['id']}/held", json={"reason": "居民要求提前商量"}, headers=auth(op)))
    assert early["held_at"] is not None

    # outcome → reported → ledger 50% then 100% with a milestone
    due = (date.today() + timedelta(days=30)).isoformat()
    outcome_body = {"text": "一个月内更换 12 盏路灯", "department_id": dept["id"], "due_date": due}
    outcome = _ok(api.post(f"{T}/{tid}/outcomes", json=outcome_body, headers=auth(op)), 201)
    _ok(api.post(f"{T}/{tid}/report", json={"note": "报送区委区政府"}, headers=auth(op)))
    ledger_url = f"/api/consultations/outcomes/{outcome['id']}/ledger"
    _ok(api.post(ledger_url, json={"note": "已采购灯具", "percent": 50}, headers=auth(op)), 201)
    _ok(api.post(ledger_url, json={"note": "全部更换完毕", "percent": 100, "milestone": True}, headers=auth(op)), 201)
    progress = _ok(api.get(f"/api/consultations/outcomes/{outcome['id']}", headers=auth(op)))
    assert [(e["percent"], e["milestone"]) for e in progress["ledger"]] == [(50, False), (100, True)]

    # the follow-up review fires as an RQ job
    sup = user_token(api, "supervisor")
    with board(server, sup) as ws:
        at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        follow = _ok(api.post(f"{T}/{tid}/follow-ups", json={"due_at": at, "note": "回头看"}, headers=auth(op)), 201)
        fired = recv_until(ws, 1, types=("topic.followup_due",), timeout=30)[0]
    assert fired["topic"]["id"] == tid
    assert _ok(api.get(f"/api/consultations/follow-ups/{follow['id']}", headers=auth(op)))["state"] == "due"
    recorded = _ok(
        api.post(f"/api/consultations/follow-ups/{follow['id']}/result", json={"result": "路灯正常"}, headers=auth(op))
    )
    assert recorded["state"] == "recorded"

    # the evaluation panel: members, officials, residents
    sheets = [
        ("member", "委员0", {"implementation": 5, "participation": 4, "satisfaction": 5}),
        ("official", "街道干部", {"implementation": 4, "participation": 4, "satisfaction": 4}),
        ("resident", "王阿姨", {"implementation": 5, "participation": 5, "satisfaction": 3}),
    ]
    for kind, name, scores in sheets:
        body = {"scorer_kind": kind, "scorer_name": name, "scores": scores, "comment": "好"}
        last = _ok(api.post(f"{T}/{tid}/evaluations", json=body, headers=auth(op)), 201)
    assert last["summary"]["count"] == 3 and last["summary"]["average"] == round(39 / 9, 2)
    bad = {"scorer_kind": "resident", "scorer_name": "x", "scores": {"implementation": 6}}
    assert api.post(f"{T}/{tid}/evaluations", json=bad, headers=auth(op)).status_code == 422
    closed = _ok(api.post(f"{T}/{tid}/close", headers=auth(op)))
    assert closed["status"] == "closed" and closed["evaluation"]["average"] == round(39 / 9, 2)

    # the audit trail lists every stage in order
    trail = _ok(api.get(f"{T}/{tid}/events", headers=auth(sup)))
    stages = [e["to_status"] for e in trail if e["to_status"]]
    assert stages == [
        "proposed",
        "screened",
        "participants_set",
        "scheduled",
        "held",
        "reported",
        "implementing",
        "reviewed",
        "evaluated",
        "closed",
    ]
    assert all(e["actor"] for e in trail)
    [held] = [e for e in trail if e["to_status"] == "held"]
    assert (held["note"], held["data"]["early"], held["data"]["early_reason"]) == (
        "居民要求提前商量",
        True,
        "居民要求提前商量",
    )
    assert {"experts_drawn", "expert_redrawn", "checked_in", "follow_up_due"} <= {e["action"] for e in trail}

    # each linked resident sees the outcome on the tracking page
    for c in cases:
        track = _ok(api.get(f"/api/track/{c['tracking_no']}", params={"secret": secrets[c["tracking_no"]]}))
        consultation = track["consultation"]
        assert (consultation["title"], consultation["status"]) == ("小区路灯整治", "closed")
        [seen] = consultation["outcomes"]
        assert (seen["text"], seen["department"], seen["due_date"]) == ("一个月内更换 12 盏路灯", "区住建局", due)
        assert (seen["progress"]["percent"], seen["progress"]["milestone"]) == (100, True)
    # a case not linked to any topic has none
    lone = _call(api, op, w["other"])
    assert _ok(api.get(f"/api/track/{lone['tracking_no']}", params={"secret": lone["secret"]}))["consultation"] is None

    # coverage: the held meeting counts at the demonstration point, 1 of 4
    cov = _ok(api.get(f"/api/consultations/coverage?year={datetime.now(UTC).year}", headers=auth(sup)))
    row = next(p for p in cov["points"] if p["point_id"] == point["id"])
    assert (row["held"], row["target"], row["met"], row["demonstration"]) == (1, 4, False, True)
    town = next(t for t in cov["towns"] if t["town_code"] == v["parent_code"])
    assert (town["held"], town["target"], town["met"]) == (1, 4, False)


def test_illegal_moves_rejection_and_roles(api):
    w = _world(api)
    op, v = w["op"], w["v"]
    case = _call(api, op, v)
    topic = _topic(api, op, [case["id"]])
    tid = topic["id"]
    # a meeting before screening: 409 with the allowed moves
    body = {"kind": "online", "starts_at": datetime.now(UTC).isoformat(), "online_url": "https://meet.example/x"}
    res = api.post(f"{T}/{tid}/meetings", json=body, headers=auth(op))
    assert res.status_code == 409, res.text
    err = res.json()["error"]
    assert err["code"] == "illegal_transition"
    assert err["details"]["allowed"] == ["forwarded", "rejected", "screened"]
    # naive times are refused
    naive = body | {"starts_at": "2026-12-01T10:00:00"}
    assert api.post(f"{T}/{tid}/meetings", json=naive, headers=auth(op)).status_code == 422

    # accepting needs all five principles; a failing one can only be rejected
    failing = OK | {"group_interest": {"ok": False, "note": "个人诉求"}}
    res = api.post(f"{T}/{tid}/screening", json={"decision": "accept", "principles": failing}, headers=auth(op))
    assert res.status_code == 422 and res.json()["error"]["details"]["failed"] == ["group_interest"]
    rejected = _ok(
        api.post(
            f"{T}/{tid}/screening", json={"decision": "reject", "principles": failing, "note": "不符"}, headers=auth(op)
        )
    )
    assert rejected["status"] == "rejected" and rejected["allowed"] == []
    res = api.post(f"{T}/{tid}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op))
    assert res.status_code == 409 and res.json()["error"]["details"]["allowed"] == []

    # roles: a member proposes (always as a proposal in their own name); a supervisor reads but cannot run
    m = w["members"][0]
    tm = user_token(api, "member", "proposer", member_id=m["id"])
    proposed = _topic(api, tm, [], source="plan", village_code=v["code"])
    assert (proposed["source"], proposed["proposer_id"]) == ("proposal", m["id"])
    assert [t["id"] for t in _ok(api.get(T, headers=auth(tm)))] == [proposed["id"]]
    assert api.get(f"{T}/{tid}", headers=auth(tm)).status_code == 404
    sup = user_token(api, "supervisor")
    assert api.get(f"{T}/{tid}", headers=auth(sup)).status_code == 200
    assert (
        api.post(
            f"{T}/{proposed['id']}/screening", json={"decision": "accept", "principles": OK}, headers=auth(sup)
        ).status_code
        == 403
    )
    assert (
        api.post(
            f"{T}/{proposed['id']}/screening", json={"decision": "accept", "principles": OK}, headers=auth(tm)
        ).status_code
        == 403
    )
    assert api.post("/api/consultations/experts", json={"name": "x"}, headers=auth(tm)).status_code == 403
    assert api.get("/api/consultations/coverage", headers=auth(tm)).status_code == 403


def test_an_individual_claim_is_forwarded_to_a_department(api):
    w = _world(api)
    op, v, dept = w["op"], w["v"], w["dept"]
    cases = [_call(api, op, v), _call(api, op, v)]
    topic = _topic(api, op, [c["id"] for c in cases], title="个人房屋漏水")
    res = _ok(
        api.post(f"{T}/{topic['id']}/forward", json={"department_id": dept["id"], "note": "个人诉求"}, headers=auth(op))
    )
    assert (res["status"], res["department_id"]) == ("forwarded", dept["id"])
    for c in cases:
        case = _ok(api.get(f"/api/cases/{c['id']}", headers=auth(op)))
        assert case["status"] == "forwarded"
        events = _ok(api.get(f"/api/cases/{c['id']}/events", headers=auth(op)))
        assert events[-1]["action"] == "forwarded" and events[-1]["data"]["department_id"] == dept["id"]
        track = _ok(api.get(f"/api/track/{c['tracking_no']}", params={"secret": c["secret"]}))
        assert track["status"] == "forwarded" and track["consultation"]["status"] == "forwarded"
    missing = api.post(f"{T}/{topic['id']}/forward", json={"department_id": 99999}, headers=auth(op))
    assert missing.status_code == 404


def _to_scheduled(api, w: dict, starts: datetime) -> tuple[dict, dict]:
    op, v = w["op"], w["v"]
    topic = _topic(api, op, [_call(api, op, v)["id"]])
    tid = topic["id"]
    _ok(api.post(f"{T}/{tid}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    _ok(
        api.post(
            f"{T}/{tid}/participants", json={"kind": "member", "member_id": w["members"][0]["id"]}, headers=auth(op)
        ),
        201,
    )
    _ok(api.post(f"{T}/{tid}/participants/confirm", headers=auth(op)))
    body = {"kind": "bench", "starts_at": starts.isoformat(), "point_id": w["point"]["id"]}
    return topic, _ok(api.post(f"{T}/{tid}/meetings", json=body, headers=auth(op)), 201)


def test_nothing_is_marked_done_before_its_time(api):
    """A meeting is not held before it starts (unless it really was, with the reason on the trail); a follow-up
    review's result is not recorded before it is due."""
    w = _world(api)
    op, dept = w["op"], w["dept"]
    topic, meeting = _to_scheduled(api, w, datetime.now(UTC) + timedelta(days=2))
    tid = topic["id"]
    for body in (None, {}, {"reason": "   "}):
        res = api.post(f"/api/meetings/{meeting['id']}/held", json=body, headers=auth(op))
        assert res.status_code == 409, res.text
        err = res.json()["error"]
        assert err["code"] == "meeting_not_started" and err["details"]["reason_required"] is True
        zh, en = err["message"].split(" / ", 1)
        assert "尚未到时间" in zh and "Beijing time" in en and "give the reason" in en
    after = _ok(api.get(f"{T}/{tid}", headers=auth(op)))
    assert after["status"] == "scheduled" and after["meetings"][0]["held_at"] is None
    assert not [e for e in _ok(api.get(f"{T}/{tid}/events", headers=auth(op))) if e["to_status"] == "held"]

    # a meeting whose start has passed is simply held; no reason asked
    past, started = _to_scheduled(api, w, datetime.now(UTC) - timedelta(minutes=5))
    _ok(api.post(f"/api/meetings/{started['id']}/held", headers=auth(op)))
    [held] = [e for e in _ok(api.get(f"{T}/{past['id']}/events", headers=auth(op))) if e["to_status"] == "held"]
    assert "early" not in held["data"] and held["note"] is None

    # held early for real: the reason is on the trail
    _ok(api.post(f"/api/meetings/{meeting['id']}/held", json={"reason": "镇里统一提前到周一"}, headers=auth(op)))
    [held] = [e for e in _ok(api.get(f"{T}/{tid}/events", headers=auth(op))) if e["to_status"] == "held"]
    assert held["note"] == "镇里统一提前到周一" and held["data"]["early"] is True

    # a follow-up review due in two days: its result cannot be recorded yet
    due = (date.today() + timedelta(days=30)).isoformat()
    outcome = _ok(
        api.post(
            f"{T}/{tid}/outcomes", json={"text": "修路", "department_id": dept["id"], "due_date": due}, headers=auth(op)
        ),
        201,
    )
    _ok(api.post(f"{T}/{tid}/report", headers=auth(op)))
    _ok(
        api.post(
            f"/api/consultations/outcomes/{outcome['id']}/ledger",
            json={"note": "开工", "percent": 10},
            headers=auth(op),
        ),
        201,
    )
    at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    follow = _ok(api.post(f"{T}/{tid}/follow-ups", json={"due_at": at}, headers=auth(op)), 201)
    url = f"/api/consultations/follow-ups/{follow['id']}/result"
    res = api.post(url, json={"result": "已整改"}, headers=auth(op))
    assert res.status_code == 409, res.text
    err = res.json()["error"]
    assert err["code"] == "follow_up_not_due" and err["details"]["reason_required"] is False
    assert "尚未到期" in err["message"] and "cannot be recorded before" in err["message"]
    assert _ok(api.get(f"/api/consultations/follow-ups/{follow['id']}", headers=auth(op)))["state"] == "scheduled"
    assert _ok(api.get(f"{T}/{tid}", headers=auth(op)))["status"] == "implementing"
    # once due, it is recorded (the due time moved into the past, as the clock would)
    with Session(get_engine()) as session:
        row = session.get(FollowUp, follow["id"])
        row.due_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
        session.commit()
    assert _ok(api.post(url, json={"result": "已整改"}, headers=auth(op)))["state"] == "recorded"
    assert _ok(api.get(f"{T}/{tid}", headers=auth(op)))["status"] == "reviewed"


def test_resolved_and_closed_cases_are_linked_to_a_new_topic(api):
    """Topics often come from cases already resolved: staff link resolved and closed ones, a member their own."""
    w = _world(api)
    op, v, m = w["op"], w["v"], w["members"][0]
    tm = user_token(api, "member", "linker", member_id=m["id"])
    resolved = _call(api, op, v)
    _ok(api.post(f"/api/cases/{resolved['id']}/assign", json={"member_id": m["id"]}, headers=auth(op)))
    _ok(api.post(f"/api/cases/{resolved['id']}/accept", headers=auth(tm)))
    _ok(api.post(f"/api/cases/{resolved['id']}/resolve", json={"note": "已修好"}, headers=auth(tm)))
    closed = _call(api, op, v)
    _ok(api.post(f"/api/cases/{closed['id']}/assign", json={"member_id": m["id"]}, headers=auth(op)))
    _ok(api.post(f"/api/cases/{closed['id']}/accept", headers=auth(tm)))
    _ok(api.post(f"/api/cases/{closed['id']}/resolve", json={"note": "已修好"}, headers=auth(tm)))
    rating = {"secret": closed["secret"], "score": "satisfied"}
    rated = api.post(f"/api/track/{closed['tracking_no']}/rating", json=rating)
    assert rated.status_code in (200, 201), rated.text
    states = {c["id"]: _ok(api.get(f"/api/cases/{c['id']}", headers=auth(op)))["status"] for c in (resolved, closed)}
    assert states == {resolved["id"]: "resolved", closed["id"]: "closed"}

    topic = _topic(api, op, [resolved["id"], closed["id"]], title="路灯反复损坏：从已办结案件立题")
    assert topic["case_ids"] == sorted([resolved["id"], closed["id"]])
    # the member's own resolved case links too; another member's resolved case answers like an unknown one
    mine = _topic(api, tm, [resolved["id"]], title="委员提议：路灯维护机制")
    assert (mine["source"], mine["case_ids"]) == ("proposal", [resolved["id"]])
    other = create_member(api, op, name="别的委员", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    to = user_token(api, "member", "other-linker", member_id=other["id"])
    res = api.post(T, json={"title": "x", "case_ids": [closed["id"]]}, headers=auth(to))
    assert res.status_code == 404 and res.json()["error"]["code"] == "case_not_found"
