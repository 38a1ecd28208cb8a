"""Deadlines: the working-day calendar, the policy, extensions (延期) and the escalation ladder, with a frozen clock.

The clock is ``dispatch.clock.now``, frozen by ``helpers.freeze_clock`` (the server runs in this process). Scheduling is
captured instead of enqueued in the ladder tests, so the test decides which job runs and which one is "lost" (the
worker was killed); the last test lets the real RQ worker run the jobs.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import Clock, api_key, auth, board, capture_jobs, create_member, freeze_clock, recv_until, user_token
from sqlmodel import Session

from dispatch.deadlines import flows, policy
from dispatch.deadlines import service as deadlines
from dispatch.deadlines.calendar import shipped
from workers import jobs

SH = ZoneInfo("Asia/Shanghai")
WATER = "城乡建设/城市建设和市政管理/自来水供应"
LADDER_EVENTS = ("case.reminded", "case.overdue", "case.supervised")
NO_SWEEP = pytest.mark.settings(sweep_interval_s=3600)  # the server's own sweeper stays out of the way


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def same(a: str | None, b: datetime) -> bool:
    return a is not None and datetime.fromisoformat(a.replace("Z", "+00:00")) == b


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return freeze_clock(monkeypatch, local(2026, 9, 30, 16, 0))


@pytest.fixture
def scheduled(monkeypatch) -> list[tuple]:
    return capture_jobs(monkeypatch, deadlines.LADDER_JOB)


def intake(api, received: datetime, *, ext: str, category: str | None = None, urgency: str = "normal") -> dict:
    body = {"external_id": ext, "content": "诉求内容", "received_at": received.isoformat(), "urgency": urgency}
    if category:
        body["category"] = category
    res = api.post("/api/intake/hotline", headers={"X-API-Key": api_key()}, json=body)
    assert res.status_code == 201, res.text
    return res.json()


def get_case(api, op: str, case_id: int) -> dict:
    res = api.get(f"/api/cases/{case_id}", headers=auth(op))
    assert res.status_code == 200, res.text
    return res.json()


def assigned_case(api, op: str, received: datetime, ext: str) -> tuple[dict, int, str]:
    member = create_member(api, op, name="承办委员", level="district")
    token = user_token(api, "member", f"m{member['id']}", member_id=member["id"])
    made = intake(api, received, ext=ext)
    res = api.post(f"/api/cases/{made['id']}/assign", json={"member_id": member["id"]}, headers=auth(op))
    assert res.status_code == 200, res.text
    return made, member["id"], token


def ladder(api, op: str, case_id: int) -> dict[str, dict]:
    res = api.get(f"/api/cases/{case_id}/ladder", headers=auth(op))
    assert res.status_code == 200, res.text
    return {s["step"]: s for s in res.json()}


def ladder_trail(api, op: str, case_id: int) -> list[tuple[str, str | None]]:
    events = api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()
    return [
        (e["action"], e["data"].get("level")) for e in events if e["action"] in ("reminded", "overdue", "supervised")
    ]


# ---- the calendar -------------------------------------------------------------------------------------


def test_working_days_skip_weekends_and_holidays_and_count_make_up_days():
    cal = shipped()
    add = cal.add_working_days
    # Wednesday before National Day 2026 (10-01..10-07 off, Saturday 10-10 a make-up working day)
    assert add(local(2026, 9, 30, 16), 1) == local(2026, 10, 8, 16)
    assert add(local(2026, 9, 30, 16), 3) == local(2026, 10, 10, 16)  # the make-up Saturday counts
    assert add(local(2026, 9, 30, 16), 10) == local(2026, 10, 20, 16)
    # an ordinary weekend: Saturday counts from Monday; Friday + 1 is Monday
    assert add(local(2026, 3, 7, 10), 1) == local(2026, 3, 9, 10)
    assert add(local(2026, 3, 6, 10), 1) == local(2026, 3, 9, 10)
    # Friday 2026-09-18 + 1 = Sunday 09-20, a make-up working day
    assert add(local(2026, 9, 18, 9, 30), 1) == local(2026, 9, 20, 9, 30)
    # Spring Festival 2026: 02-14 (Saturday) works, 02-15..02-23 off
    assert add(local(2026, 2, 10, 9), 5) == local(2026, 2, 24, 9)
    assert add(local(2026, 2, 10, 9), 0) == local(2026, 2, 10, 9)
    # 2025: National Day and Mid-Autumn 10-01..10-08, make-up Saturday 10-11
    assert add(local(2025, 9, 30, 17), 2) == local(2025, 10, 10, 17)
    assert add(local(2025, 9, 30, 17), 3) == local(2025, 10, 11, 17)
    assert cal.years == {2025, 2026}


# ---- the policy at intake -----------------------------------------------------------------------------


@pytest.mark.settings(deadline_profile="guangdong")
def test_guangdong_deadlines_land_on_the_right_working_day_and_hour(api):
    op = user_token(api, "operator")
    # Wednesday 16:00 before National Day: sign in 1 working day, finish in 10 (a request for help)
    case = get_case(api, op, intake(api, local(2026, 9, 30, 16), ext="nd")["id"])
    assert same(case["deadlines"]["sign_by"], local(2026, 10, 8, 16))
    assert same(case["deadlines"]["due_at"], local(2026, 10, 20, 16))
    # a weekend case: Saturday 10:00 → Monday 10:00, and the 10th working day is Friday of the next week
    case = get_case(api, op, intake(api, local(2026, 3, 7, 10), ext="we")["id"])
    assert same(case["deadlines"]["sign_by"], local(2026, 3, 9, 10))
    assert same(case["deadlines"]["due_at"], local(2026, 3, 20, 10))
    # an emergency on a holiday: hours ignore the calendar
    case = get_case(api, op, intake(api, local(2026, 10, 1, 10), ext="em", urgency="urgent")["id"])
    assert same(case["deadlines"]["sign_by"], local(2026, 10, 1, 11))
    assert same(case["deadlines"]["due_at"], local(2026, 10, 1, 12))
    # the request kinds, through the preview: complaint 15 working days, enquiry 2
    for kind, due in (("投诉", local(2026, 10, 27, 16)), ("咨询", local(2026, 10, 9, 16))):
        res = api.get(
            "/api/deadlines/preview",
            params={"received_at": "2026-09-30T16:00:00+08:00", "kind": kind},
            headers=auth(op),
        )
        assert res.status_code == 200, res.text
        assert same(res.json()["due_at"], due), (kind, res.json())


def test_beijing_defaults_use_calendar_hours(api):
    op = user_token(api, "operator")
    start = local(2026, 9, 30, 16)
    water = get_case(api, op, intake(api, start, ext="w", category=WATER)["id"])
    assert same(water["deadlines"]["due_at"], start + timedelta(hours=24))
    assert same(water["deadlines"]["sign_by"], start + timedelta(hours=2))
    general = get_case(api, op, intake(api, start, ext="g", category="城乡建设")["id"])
    assert same(general["deadlines"]["due_at"], start + timedelta(days=7))
    assert same(general["deadlines"]["sign_by"], local(2026, 10, 8, 16))  # sign: 1 working day
    urgent = get_case(api, op, intake(api, start, ext="u", category=WATER, urgency="urgent")["id"])
    assert same(urgent["deadlines"]["due_at"], start + timedelta(hours=2))
    res = api.get(
        "/api/deadlines/preview",
        params={"received_at": "2026-09-30T16:00:00+08:00", "kind": "complex"},
        headers=auth(op),
    )
    assert same(res.json()["due_at"], start + timedelta(days=15))


def test_policies_and_calendar_are_admin_data(api):
    admin = user_token(api, "admin")
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    for token in (op, sup):
        assert api.get("/api/deadlines/policies", headers=auth(token)).status_code == 403
    got = api.get("/api/deadlines/policies", headers=auth(admin))
    assert got.status_code == 200, got.text
    assert {r["note"] for r in got.json()["rules"]} >= {"北京：紧急诉求 2 小时", "北京：水电气热 24 小时"}

    wd = "working_days"
    rules = [
        {
            "category_prefix": "",
            "urgency": "normal",
            "sign_amount": 1,
            "sign_unit": wd,
            "finish_amount": 5,
            "finish_unit": wd,
        },
        {
            "category_prefix": "",
            "urgency": "urgent",
            "sign_amount": 1,
            "sign_unit": "hours",
            "finish_amount": 2,
            "finish_unit": "hours",
        },
        {
            "category_prefix": "城乡建设",
            "urgency": "normal",
            "sign_amount": 1,
            "sign_unit": wd,
            "finish_amount": 3,
            "finish_unit": wd,
        },
    ]
    body = {"profile": "beijing", "rules": rules}
    assert api.put("/api/deadlines/policies", json=body, headers=auth(op)).status_code == 403
    bad = api.put("/api/deadlines/policies", json={"profile": "beijing", "rules": rules[2:]}, headers=auth(admin))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "missing_default_rule"
    res = api.put("/api/deadlines/policies", json=body, headers=auth(admin))
    assert res.status_code == 200, res.text
    assert res.json()["source"] == "table" and len(res.json()["rules"]) == 3
    # longest prefix wins: water is under 城乡建设 (3 working days, the make-up Saturday included)
    start = local(2026, 9, 30, 16)
    water = get_case(api, op, intake(api, start, ext="p1", category=WATER)["id"])
    assert same(water["deadlines"]["due_at"], local(2026, 10, 10, 16))
    other = get_case(api, op, intake(api, start, ext="p2")["id"])
    assert same(other["deadlines"]["due_at"], local(2026, 10, 13, 16))
    # the other profile kept its shipped rules
    gd = api.get("/api/deadlines/policies?profile=guangdong", headers=auth(admin)).json()
    assert gd["active"] is False and any(r["kind"] == "投诉" for r in gd["rules"])

    # the calendar: staff read it, only an admin adds a year
    year = api.get("/api/deadlines/calendar?year=2026", headers=auth(op)).json()
    assert {"date": "2026-10-10", "kind": "workday", "name": "国庆节调休上班"} in year
    days = {"days": [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"}]}
    assert api.put("/api/deadlines/calendar/2027", json=days, headers=auth(op)).status_code == 403
    res = api.put("/api/deadlines/calendar/2027", json=days, headers=auth(admin))
    assert res.status_code == 200 and res.json() == [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"}]
    assert len(api.get("/api/deadlines/calendar?year=2026", headers=auth(op)).json()) == len(year)  # kept
    # Thursday 2026-12-31 + 1 working day skips New Year's Day 2027
    res = api.get("/api/deadlines/preview", params={"received_at": "2026-12-31T09:00:00+08:00"}, headers=auth(op))
    assert same(res.json()["sign_by"], local(2027, 1, 4, 9))


@pytest.mark.settings(deadline_profile="guangdong")
def test_an_edit_of_the_calendar_or_the_policy_applies_to_the_next_case(api, monkeypatch):
    """Policy and calendar are cached per process: an edit through the API applies to the very next case; an
    edit made elsewhere (another process, here a direct write) within the cache's TTL."""
    from dispatch.db import get_engine
    from dispatch.deadlines.models import CalendarDay

    admin, op = user_token(api, "admin"), user_token(api, "operator")
    start = local(2026, 9, 30, 16)
    first = get_case(api, op, intake(api, start, ext="c1")["id"])  # the cache is warm now
    assert same(first["deadlines"]["due_at"], local(2026, 10, 20, 16))  # 10 working days

    # Friday 10-09 becomes a holiday: the 10th working day moves to 10-21
    days = api.get("/api/deadlines/calendar?year=2026", headers=auth(op)).json()
    days.append({"date": "2026-10-09", "kind": "holiday", "name": "测试假日"})
    res = api.put("/api/deadlines/calendar/2026", json={"days": days}, headers=auth(admin))
    assert res.status_code == 200, res.text
    second = get_case(api, op, intake(api, start, ext="c2")["id"])
    assert same(second["deadlines"]["due_at"], local(2026, 10, 21, 16))

    # the policy: 5 working days instead of 10 (10-08, the make-up Saturday 10-10, 10-12, 10-13, 10-14)
    rule = {"category_prefix": "", "sign_amount": 1, "sign_unit": "working_days", "finish_unit": "working_days"}
    rules = [{**rule, "urgency": "normal", "finish_amount": 5}, {**rule, "urgency": "urgent", "finish_amount": 1}]
    res = api.put("/api/deadlines/policies", json={"profile": "guangdong", "rules": rules}, headers=auth(admin))
    assert res.status_code == 200, res.text
    third = get_case(api, op, intake(api, start, ext="c3")["id"])
    assert same(third["deadlines"]["due_at"], local(2026, 10, 14, 16))

    # another process makes Monday 10-12 a holiday: this process sees it once its cache expires
    monkeypatch.setattr(policy, "CACHE_TTL_S", 0.2)
    with Session(get_engine()) as session:
        session.add(CalendarDay(day=local(2026, 10, 12).date(), kind="holiday", name="别处修改"))
        session.commit()
    deadline, n, due = time.monotonic() + 10, 0, None
    while time.monotonic() < deadline:
        n += 1
        due = get_case(api, op, intake(api, start, ext=f"c4-{n}")["id"])["deadlines"]["due_at"]
        if same(due, local(2026, 10, 15, 16)):
            break
        assert same(due, local(2026, 10, 14, 16)), due
        time.sleep(0.05)
    assert same(due, local(2026, 10, 15, 16)), due


# ---- the ladder -----------------------------------------------------------------------------------------


@NO_SWEEP
@pytest.mark.settings(deadline_profile="guangdong", sweep_interval_s=3600)
def test_the_ladder_fires_each_step_once_across_lost_jobs_and_races(api, server, clock, scheduled):
    op = user_token(api, "operator")
    made, member_id, _ = assigned_case(api, op, local(2026, 9, 30, 16), "ladder")
    case_id = made["id"]
    plan = {
        "reminder": local(2026, 10, 15, 16),  # 75 % of the 20 calendar days to the deadline
        "yellow": local(2026, 10, 20, 16),  # the deadline: 10 working days
        "red": local(2026, 10, 22, 16),  # 2 working days later
        "supervision": local(2026, 10, 23, 16),  # 1 more working day
    }
    steps = ladder(api, op, case_id)
    assert {k: v["state"] for k, v in steps.items()} == dict.fromkeys(plan, "pending")
    assert all(same(steps[k]["due_at"], at) for k, at in plan.items())

    def jobs_for_case() -> dict[str, datetime]:
        return {args[1]: at for at, job, args, job_id in scheduled if args[0] == case_id and args[1] in plan}

    # one job per case at a time: the next step's (each job schedules the one after it)
    assert jobs_for_case() == {"reminder": plan["reminder"]}
    assert all(job_id.startswith(f"ladder-{case_id}-") for _, _, args, job_id in scheduled if args[0] == case_id)

    with board(server, op) as ws:
        # nothing is due yet
        assert jobs.ladder_step(case_id, "reminder") == []
        assert flows.sweep_ladder() == 0

        # the reminder's job runs on time; running it again, or sweeping, fires nothing more
        clock.at = plan["reminder"] + timedelta(minutes=1)
        assert jobs.ladder_step(case_id, "reminder") == ["reminder"]
        assert jobs_for_case()["yellow"] == plan["yellow"]  # the reminder's job scheduled the next step
        assert jobs.ladder_step(case_id, "reminder") == []
        assert flows.sweep_ladder() == 0

        # the yellow job is lost (worker killed): the sweeper of the restarted process fires it; the job,
        # delivered late after the restart, finds nothing to do
        clock.at = plan["yellow"] + timedelta(minutes=5)
        assert flows.sweep_ladder() == 1
        assert jobs_for_case()["red"] == plan["red"]  # the sweeper scheduled what the lost job would have
        assert jobs.ladder_step(case_id, "yellow") == []
        assert flows.sweep_ladder() == 0

        # red: the job and two sweepers race; exactly one of them fires it
        clock.at = plan["red"] + timedelta(minutes=5)
        with ThreadPoolExecutor(3) as pool:
            results = [
                pool.submit(jobs.ladder_step, case_id, "red"),
                pool.submit(flows.sweep_ladder),
                pool.submit(flows.sweep_ladder),
            ]
            fired = [r.result() for r in results]
        assert len(fired[0]) + fired[1] + fired[2] == 1
        assert jobs_for_case() == plan  # every step got its job, at its planned time

        # supervision
        clock.at = plan["supervision"] + timedelta(minutes=5)
        assert jobs.ladder_step(case_id, "supervision") == ["supervision"]
        assert jobs.ladder_step(case_id, "supervision") == [] and flows.sweep_ladder() == 0

        seen = recv_until(ws, 4, types=LADDER_EVENTS, case_id=case_id)
        assert [e["type"] for e in seen] == ["case.reminded", "case.overdue", "case.overdue", "case.supervised"]
        assert seen[1]["note"].startswith("[yellow]") and seen[2]["note"].startswith("[red]")

    assert ladder_trail(api, op, case_id) == [
        ("reminded", None),
        ("overdue", "yellow"),
        ("overdue", "red"),
        ("supervised", None),
    ]
    assert {k: v["state"] for k, v in ladder(api, op, case_id).items()} == dict.fromkeys(plan, "fired")
    assert get_case(api, op, case_id)["status"] == "assigned"  # no status change
    # far later, still nothing twice
    clock.at = plan["supervision"] + timedelta(days=60)
    assert flows.sweep_ladder() == 0
    assert len(ladder_trail(api, op, case_id)) == 4


@pytest.mark.settings(deadline_profile="guangdong", sweep_interval_s=3600)
def test_an_approved_extension_moves_the_deadline_and_replans_and_a_resolved_case_fires_nothing_more(
    api, server, clock, scheduled
):
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    made, member_id, member = assigned_case(api, op, local(2026, 9, 30, 16), "ext")
    case_id = made["id"]
    other = create_member(api, op, name="别的委员", level="district")
    other_token = user_token(api, "member", "other", member_id=other["id"])
    new_due = local(2026, 10, 30, 16)
    body = {"reason": "需协调供水公司更换主管道", "new_due_at": new_due.isoformat()}

    # only the assignee asks
    for token in (op, other_token):
        assert api.post(f"/api/cases/{case_id}/extensions", json=body, headers=auth(token)).status_code == 403
    earlier = {"reason": "x", "new_due_at": "2026-10-19T16:00:00+08:00"}
    assert api.post(f"/api/cases/{case_id}/extensions", json=earlier, headers=auth(member)).status_code == 422
    res = api.post(f"/api/cases/{case_id}/extensions", json=body, headers=auth(member))
    assert res.status_code == 201, res.text
    ext_id = res.json()["id"]
    assert api.post(f"/api/cases/{case_id}/extensions", json=body, headers=auth(member)).status_code == 409

    # only operators decide
    for token in (member, sup):
        assert api.post(f"/api/extensions/{ext_id}/approve", json={}, headers=auth(token)).status_code == 403
    scheduled.clear()
    res = api.post(f"/api/extensions/{ext_id}/approve", json={"note": "同意"}, headers=auth(op))
    assert res.status_code == 200 and res.json()["state"] == "approved", res.text
    assert api.post(f"/api/extensions/{ext_id}/reject", json={}, headers=auth(op)).status_code == 409

    case = get_case(api, op, case_id)
    assert same(case["deadlines"]["due_at"], new_due)
    assert same(case["deadlines"]["sign_by"], local(2026, 10, 8, 16))  # unchanged
    replanned = {
        "reminder": local(2026, 9, 30, 16) + (new_due - local(2026, 9, 30, 16)) * 0.75,  # 10-23 10:00
        "yellow": new_due,
        "red": local(2026, 11, 3, 16),  # Friday 10-30 + 2 working days
        "supervision": local(2026, 11, 4, 16),
    }
    steps = ladder(api, op, case_id)
    assert all(same(steps[k]["due_at"], at) for k, at in replanned.items())
    # the next pending step's job, at its new time (it schedules the ones after it)
    assert {args[1]: at for at, _, args, _ in scheduled if args[0] == case_id} == {"reminder": replanned["reminder"]}

    # the resident sees the new date (a hotline case's secret goes out by SMS; set a known one here)
    from dispatch.cases import service as cases
    from dispatch.db import get_engine

    with Session(get_engine()) as session:
        row = cases.get(session, case_id)
        row.secret_hash = cases.hash_secret("s3cret")
        session.add(row)
        session.commit()
        assert cases.track_view(session, cases.get(session, case_id))["due_at"] == new_due
    track = api.get(f"/api/track/{made['tracking_no']}/deadline", params={"secret": "s3cret"}).json()
    assert same(track["due_at"], new_due) and track["extended"] is True, track
    assert api.get(f"/api/track/{made['tracking_no']}/deadline", params={"secret": "nope"}).status_code == 404

    # the old deadline passes: nothing fires (the old yellow job finds nothing due)
    clock.at = local(2026, 10, 20, 16, 5)
    assert jobs.ladder_step(case_id, "yellow") == [] and flows.sweep_ladder() == 0
    clock.at = replanned["reminder"] + timedelta(minutes=1)
    assert jobs.ladder_step(case_id, "reminder") == ["reminder"]

    # resolved: the remaining steps are skipped, by job and by sweeper alike
    res = api.post(f"/api/cases/{case_id}/resolve", json={"note": "已更换"}, headers=auth(member))
    assert res.status_code == 200, res.text
    clock.at = replanned["supervision"] + timedelta(days=3)
    assert jobs.ladder_step(case_id, "yellow") == [] and flows.sweep_ladder() == 0
    states = {k: v["state"] for k, v in ladder(api, op, case_id).items()}
    assert states == {"reminder": "fired", "yellow": "skipped", "red": "skipped", "supervision": "skipped"}
    assert ladder_trail(api, op, case_id) == [("reminded", None)]
    actions = [e["action"] for e in api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()]
    assert "extension_requested" in actions and "extension_approved" in actions


def test_the_rq_worker_runs_the_ladder_jobs(api, server):
    """Real scheduling: a case received long ago has every step due; the worker fires each once, in order."""
    op = user_token(api, "operator")
    received = datetime.now(UTC) - timedelta(days=30)
    case_id = intake(api, received, ext="old", category="城乡建设")["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(s["state"] == "fired" for s in ladder(api, op, case_id).values()):
            break
        time.sleep(0.2)
    assert {s["state"] for s in ladder(api, op, case_id).values()} == {"fired"}
    assert ladder_trail(api, op, case_id) == [
        ("reminded", None),
        ("overdue", "yellow"),
        ("overdue", "red"),
        ("supervised", None),
    ]
