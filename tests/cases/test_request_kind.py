"""Request type (诉求类型) on cases: accepted at intake (hotline, phone, QR form), refused with the allowed values
when unknown, picking the deadline rule of its kind (Guangdong: enquiries 2 working days, help and suggestions 10,
complaints 15) across weekends and holidays, and set by operators with the deadline recomputed and the trail written.

As in tests/deadlines/test_deadlines.py the deadline clock is frozen and ladder jobs are captured, not enqueued."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import api_key, auth, board, capture_jobs, create_member, freeze_clock, recv_until, user_token

from dispatch.deadlines import service as deadlines

SH = ZoneInfo("Asia/Shanghai")
GUANGDONG = pytest.mark.settings(deadline_profile="guangdong", sweep_interval_s=3600)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def same(a: str | None, b: datetime) -> bool:
    return a is not None and datetime.fromisoformat(a.replace("Z", "+00:00")) == b


@pytest.fixture
def frozen(monkeypatch) -> list[tuple]:
    """The deadline clock at Wednesday 2026-09-30 16:00 (Beijing); ladder jobs captured, not enqueued."""
    freeze_clock(monkeypatch, local(2026, 9, 30, 16))
    return capture_jobs(monkeypatch, deadlines.LADDER_JOB)


def hotline(api, key: str, ext: str, received: datetime, kind: str | None = None, **extra) -> dict:
    body = {"external_id": ext, "content": "诉求内容", "received_at": received.isoformat(), **extra}
    if kind is not None:
        body["request_kind"] = kind
    res = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
    assert res.status_code == 201, res.text
    return res.json()


def case(api, op: str, case_id: int) -> dict:
    res = api.get(f"/api/cases/{case_id}", headers=auth(op))
    assert res.status_code == 200, res.text
    return res.json()


def test_kind_is_accepted_at_every_door_and_unknown_kinds_are_refused(api, frozen):
    op = user_token(api, "operator")
    key = api_key()
    made = hotline(api, key, "k1", local(2026, 9, 30, 16), "投诉")
    assert case(api, op, made["id"])["request_kind"] == "投诉"
    plain = hotline(api, key, "k2", local(2026, 9, 30, 16))
    assert case(api, op, plain["id"])["request_kind"] is None  # unknown

    res = api.post("/api/cases", json={"content": "想咨询养老保险怎么续缴", "request_kind": "咨询"}, headers=auth(op))
    assert res.status_code == 201, res.text
    assert case(api, op, res.json()["id"])["request_kind"] == "咨询"

    res = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": key},
        json={"external_id": "k3", "content": "x", "request_kind": "闲聊"},
    )
    assert res.status_code == 422, res.text
    err = res.json()["error"]
    assert err["details"]["fields"][0]["field"] == "request_kind"
    assert all(k in err["details"]["fields"][0]["problem"] for k in ("咨询", "求助", "建议", "投诉"))
    stored = api.get("/api/cases", params={"channel": "hotline"}, headers=auth(op)).json()
    assert len(stored) == 2  # nothing stored for the refused one
    batch = [
        {"external_id": "k4", "content": "y", "request_kind": "建议"},
        {"external_id": "k5", "content": "z", "request_kind": "bad"},
    ]
    res = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=batch)
    assert [r["status"] for r in res.json()] == [201, 422]
    assert case(api, op, res.json()[0]["body"]["id"])["request_kind"] == "建议"

    # the QR form: optional select, validated the same way
    villages = api.get("/api/regions", params={"level": "village"}, headers=auth(op)).json()
    point = api.post(
        "/api/points", json={"name": "议事点", "village_code": villages[5]["code"]}, headers=auth(op)
    ).json()
    url = f"/api/intake/qr/{point['qr_token']}"
    form = {"content": "楼道灯坏了", "category": "城乡建设"}
    res = api.post(url, data=form | {"request_kind": "求助"})
    assert res.status_code == 201, res.text
    assert case(api, op, res.json()["id"])["request_kind"] == "求助"
    res = api.post(url, data=form | {"request_kind": ""})  # "not sure"
    assert res.status_code == 201 and case(api, op, res.json()["id"])["request_kind"] is None
    res = api.post(url, data=form | {"request_kind": "nonsense"})
    assert res.status_code == 422 and res.json()["error"]["code"] == "unknown_request_kind", res.text
    assert "投诉" in res.json()["error"]["details"]["allowed"]
    page = api.get(f"/q/{point['qr_token']}")
    assert 'name="request_kind"' in page.text and '<option value="投诉"' in page.text


@GUANGDONG
def test_guangdong_deadlines_follow_the_kind_across_holidays_and_weekends(api, frozen):
    op = user_token(api, "operator")
    key = api_key()
    nd = local(2026, 9, 30, 16)  # Wednesday before National Day (10-01..10-07 off, Saturday 10-10 works)
    expected = {
        "咨询": local(2026, 10, 9, 16),  # 2 working days
        "求助": local(2026, 10, 20, 16),  # 10
        "建议": local(2026, 10, 20, 16),  # 10
        "投诉": local(2026, 10, 27, 16),  # 15, the make-up Saturday counted
        "举报": local(2026, 10, 20, 16),  # no rule of its own: the general rule (10)
        None: local(2026, 10, 20, 16),  # unknown: the general rule
    }
    for i, (kind, due) in enumerate(expected.items()):
        got = case(api, op, hotline(api, key, f"nd{i}", nd, kind)["id"])
        assert same(got["deadlines"]["due_at"], due), (kind, got["deadlines"])
        assert same(got["deadlines"]["sign_by"], local(2026, 10, 8, 16)), kind  # 1 working day for every kind
    # a weekend: Friday and Saturday enquiries both fall due on Tuesday
    for ext, received in (("fri", local(2026, 3, 6, 10)), ("sat", local(2026, 3, 7, 10))):
        got = case(api, op, hotline(api, key, ext, received, "咨询")["id"])
        assert same(got["deadlines"]["due_at"], local(2026, 3, 10, 10)), (ext, got["deadlines"])
    # urgent cases keep the 2-hour rule whatever their kind
    got = case(api, op, hotline(api, key, "urg", nd, "投诉", urgency="urgent")["id"])
    assert same(got["deadlines"]["due_at"], nd + timedelta(hours=2))


@pytest.mark.settings(sweep_interval_s=3600)
def test_beijing_complex_requests_get_15_days(api, frozen):
    op = user_token(api, "operator")
    key = api_key()
    got = case(api, op, hotline(api, key, "cx", local(2026, 9, 30, 16), "complex")["id"])
    assert same(got["deadlines"]["due_at"], local(2026, 10, 15, 16))
    got = case(api, op, hotline(api, key, "q", local(2026, 9, 30, 16), "咨询")["id"])
    assert same(got["deadlines"]["due_at"], local(2026, 10, 7, 16))  # Beijing has no enquiry rule: 7 days


@GUANGDONG
def test_operator_sets_the_kind_and_the_deadline_follows(api, server, frozen):
    op, sup = user_token(api, "operator"), user_token(api, "supervisor")
    member = user_token(api, "member", member_id=create_member(api, op, level="district")["id"])
    made = hotline(api, api_key(), "chg", local(2026, 9, 30, 16), "咨询")
    cid = made["id"]
    before = case(api, op, cid)
    assert same(before["deadlines"]["due_at"], local(2026, 10, 9, 16))
    url = f"/api/cases/{cid}/kind"
    assert api.post(url, json={"request_kind": "投诉"}, headers=auth(sup)).status_code == 403
    assert api.post(url, json={"request_kind": "投诉"}, headers=auth(member)).status_code == 403
    assert api.post(url, json={"request_kind": "闲聊"}, headers=auth(op)).status_code == 422
    assert api.post("/api/cases/99999/kind", json={"request_kind": "投诉"}, headers=auth(op)).status_code == 404

    frozen.clear()
    with board(server, op) as ws:
        res = api.post(url, json={"request_kind": "投诉"}, headers=auth(op))
        assert res.status_code == 200, res.text
        assert res.json()["request_kind"] == "投诉"
        assert same(res.json()["deadlines"]["due_at"], local(2026, 10, 27, 16))
        ev = recv_until(ws, 1, types=("case.updated",), case_id=cid)[0]
    assert ev["case"]["request_kind"] == "投诉" and same(ev["case"]["deadlines"]["due_at"], local(2026, 10, 27, 16))
    assert ev["action"] == "request_kind"

    trail = [e for e in api.get(f"/api/cases/{cid}/events", headers=auth(op)).json() if e["action"] == "request_kind"]
    assert len(trail) == 1 and trail[0]["actor"].startswith("operator:")
    assert trail[0]["data"]["from"] == "咨询" and trail[0]["data"]["to"] == "投诉"
    assert same(trail[0]["data"]["due_from"], local(2026, 10, 9, 16))
    assert same(trail[0]["data"]["due_to"], local(2026, 10, 27, 16))
    assert "投诉" in trail[0]["note"]

    # the ladder moved with the deadline: yellow at the new due date, the next step's job re-planned (each
    # step's job schedules the following one)
    steps = {s["step"]: s for s in api.get(f"/api/cases/{cid}/ladder", headers=auth(op)).json()}
    assert same(steps["yellow"]["due_at"], local(2026, 10, 27, 16))
    assert local(2026, 10, 9, 16) < datetime.fromisoformat(steps["reminder"]["due_at"]) < local(2026, 10, 27, 16)
    assert any(
        job == "workers.jobs.ladder_step" and args == (cid, "reminder") and same(steps["reminder"]["due_at"], at)
        for at, job, args, _ in frozen
    )

    # clearing it (unknown) falls back to the general rule
    res = api.post(url, json={"request_kind": None}, headers=auth(op))
    assert res.status_code == 200 and res.json()["request_kind"] is None
    assert same(res.json()["deadlines"]["due_at"], local(2026, 10, 20, 16))


def test_confirming_a_utilities_category_moves_a_beijing_case_to_24_hours(api, frozen):
    op = user_token(api, "operator")
    cid = hotline(api, api_key(), "water", local(2026, 9, 30, 16))["id"]
    assert same(case(api, op, cid)["deadlines"]["due_at"], local(2026, 10, 7, 16))  # general: 7 days
    water = "城乡建设/城市建设和市政管理/自来水供应"
    res = api.post(f"/api/cases/{cid}/category", json={"category": water}, headers=auth(op))
    assert res.status_code == 200, res.text
    got = case(api, op, cid)
    assert got["category"] == water and same(got["deadlines"]["due_at"], local(2026, 10, 1, 16))
    trail = [e for e in api.get(f"/api/cases/{cid}/events", headers=auth(op)).json() if e["action"] == "categorised"]
    assert len(trail) == 1 and trail[0]["data"]["to"] == water
    assert same(trail[0]["data"]["due_from"], local(2026, 10, 7, 16))
    assert same(trail[0]["data"]["due_to"], local(2026, 10, 1, 16))
    steps = {s["step"]: s for s in api.get(f"/api/cases/{cid}/ladder", headers=auth(op)).json()}
    assert same(steps["yellow"]["due_at"], local(2026, 10, 1, 16))
