"""Callback (回访) tasks: one per resolution, one more when still unrated N days later (exactly once, with a frozen
clock), claimed and completed by operators; a score by phone goes through the rating path (dissatisfied reopens
and counts in the reopen rate); a rating by the resident cancels the open task."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from helpers import Clock, auth, board, capture_jobs, create_member, freeze_clock, recv_until, user_token
from sqlalchemy import text

from dispatch.callbacks import flows
from dispatch.db import get_engine
from workers import jobs

PHONE = "13912345678"
REPLY = "已清理堵塞的雨水管道，积水已排净"
NO_SWEEP = pytest.mark.settings(sweep_interval_s=3600)  # the server's own sweeper stays out of the way


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return freeze_clock(monkeypatch, datetime.now(UTC))


@pytest.fixture
def scheduled(monkeypatch) -> list[tuple]:
    return capture_jobs(monkeypatch, "workers.jobs.callback_unrated")


def resolved_case(api, op: str, *, name: str = "张建国") -> tuple[dict, int, str]:
    """A phoned-in case, assigned and resolved by a member: (case as created, member id, member token)."""
    member = create_member(api, op, name="承办委员", level="district")
    token = user_token(api, "member", f"m{member['id']}", member_id=member["id"])
    body = {"content": "小区东门雨水管道堵塞，下雨后积水没过脚踝", "caller_name": name, "caller_phone": PHONE}
    case = api.post("/api/cases", json=body, headers=auth(op)).json()
    handle(api, op, case["id"], member["id"], token)
    return case, member["id"], token


def member_of(api, op: str) -> tuple[int, str]:
    member = create_member(api, op, name="另一委员", level="district")
    return member["id"], user_token(api, "member", f"m{member['id']}", member_id=member["id"])


def handle(api, op: str, case_id: int, member_id: int, member: str, note: str = REPLY) -> None:
    res = api.post(f"/api/cases/{case_id}/assign", json={"member_id": member_id}, headers=auth(op))
    assert res.status_code == 200, res.text
    res = api.post(f"/api/cases/{case_id}/resolve", json={"note": note}, headers=auth(member))
    assert res.status_code == 200, res.text


def tasks(api, token: str, **params) -> list[dict]:
    res = api.get("/api/callbacks", params=params, headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def case_of(api, op: str, case_id: int) -> dict:
    return api.get(f"/api/cases/{case_id}", headers=auth(op)).json()


def test_a_resolution_creates_one_task_with_the_script_live_on_the_board(api, server):
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    with board(server, op) as ws:
        case, _, _ = resolved_case(api, op)
        (event,) = recv_until(ws, 1, types=("callback.created",))
    assert event["callback"]["case_id"] == case["id"] and event["callback"]["reason"] == "resolved"
    assert PHONE not in str(event)  # no contact details on the socket

    (task,) = tasks(api, op)
    assert (task["case_id"], task["reason"], task["status"]) == (case["id"], "resolved", "open")
    assert task["id"] == event["callback"]["id"]
    zh, en = task["script"]["zh"], task["script"]["en"]
    assert "请问是张**吗" in zh and "张建国" not in zh  # greeting with the masked name
    assert case["tracking_no"] in zh and "雨水管道堵塞" in zh  # the issue
    assert REPLY in zh  # the reply given
    assert "满意、基本满意，还是不满意" in zh and "再见" in zh
    assert "satisfied, basically satisfied, or dissatisfied" in en and REPLY in en
    # the operator calls: name and phone in full; a supervisor reads them masked
    assert (task["case"]["reporter_name"], task["case"]["reporter_phone"]) == ("张建国", PHONE)
    seen = tasks(api, sup)[0]["case"]
    assert (seen["reporter_name"], seen["reporter_phone"]) == ("张**", "139****5678")
    assert tasks(api, op, reason="unrated") == [] and tasks(api, op, status="done") == []


def test_roles_and_states_of_claim_and_complete(api, server):
    op = user_token(api, "operator", "op1")
    op2 = user_token(api, "operator", "op2")
    sup = user_token(api, "supervisor")
    case, _, member = resolved_case(api, op)
    (task,) = tasks(api, op)
    url = f"/api/callbacks/{task['id']}"
    done = {"outcome": "unreachable", "note": "三次未接通"}

    # who may do what
    for token in (member, sup):
        assert api.post(f"{url}/claim", headers=auth(token)).status_code == 403
        assert api.post(f"{url}/complete", json=done, headers=auth(token)).status_code == 403
    assert api.get("/api/callbacks", headers=auth(member)).status_code == 403
    assert api.get("/api/callbacks").status_code == 401 and api.post(f"{url}/claim").status_code == 401
    assert api.post("/api/callbacks/999999/claim", headers=auth(op)).status_code == 404

    with board(server, op) as ws:
        res = api.post(f"{url}/claim", headers=auth(op))
        assert res.status_code == 200 and res.json()["status"] == "claimed"
        (event,) = recv_until(ws, 1, types=("callback.updated",))
        assert event["callback"]["status"] == "claimed" and event["callback"]["claimed_by"] == res.json()["claimed_by"]
    assert api.post(f"{url}/claim", headers=auth(op)).status_code == 200  # again by the same operator: no change
    taken = api.post(f"{url}/claim", headers=auth(op2))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "callback_claimed"
    assert api.post(f"{url}/complete", json=done, headers=auth(op2)).status_code == 409
    # the score goes with reaching the resident, and only then
    res = api.post(f"{url}/complete", json={"outcome": "reached"}, headers=auth(op))
    assert res.status_code == 422 and res.json()["error"]["code"] == "score_required"
    res = api.post(f"{url}/complete", json={"outcome": "refused", "score": "satisfied"}, headers=auth(op))
    assert res.status_code == 422 and res.json()["error"]["code"] == "score_without_contact"

    res = api.post(f"{url}/complete", json=done, headers=auth(op))
    assert res.status_code == 200
    out = res.json()
    assert (out["status"], out["outcome"], out["score"], out["note"]) == ("done", "unreachable", None, "三次未接通")
    again = api.post(f"{url}/complete", json=done, headers=auth(op))
    assert again.status_code == 409 and again.json()["error"]["details"]["allowed"] == []
    assert api.post(f"{url}/claim", headers=auth(op)).status_code == 409
    # not reached: the case stays resolved and waits for a rating; the call is in the trail
    assert case_of(api, op, case["id"])["status"] == "resolved"
    trail = api.get(f"/api/cases/{case['id']}/events", headers=auth(op)).json()
    assert trail[-1]["action"] == "callback" and trail[-1]["data"]["outcome"] == "unreachable"
    assert tasks(api, op) == [] and [t["id"] for t in tasks(api, op, status="done")] == [task["id"]]

    # nobody to call: a case without a phone number gets no task
    anonymous = api.post("/api/cases", json={"content": "桥下有垃圾堆放"}, headers=auth(op)).json()
    handle(api, op, anonymous["id"], *member_of(api, op))
    assert case_of(api, op, anonymous["id"])["status"] == "resolved"
    assert tasks(api, op, status="open,claimed,done,cancelled", case_id=anonymous["id"]) == []


def test_dissatisfied_by_phone_reopens_the_case_counts_in_the_reopen_rate_and_the_next_resolution_calls_again(api):
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    case, member_id, member = resolved_case(api, op)
    (task,) = tasks(api, op)
    url = f"/api/callbacks/{task['id']}"
    assert api.post(f"{url}/claim", headers=auth(op)).status_code == 200
    body = {"outcome": "reached", "score": "dissatisfied", "note": "下雨还是积水"}
    res = api.post(f"{url}/complete", json=body, headers=auth(op))
    assert res.status_code == 200, res.text
    # reopened, then dispatched again by the one rule: without a location to find a member by, to the operators
    assert res.json()["score"] == "dissatisfied" and res.json()["case"]["status"] == "escalated"

    seen = case_of(api, op, case["id"])
    assert (seen["status"], seen["rating"]) == ("escalated", "dissatisfied")
    rated = [e for e in api.get(f"/api/cases/{case['id']}/events", headers=auth(op)).json() if e["action"] == "rated"]
    assert len(rated) == 1
    assert rated[0]["actor"].startswith("operator:") and rated[0]["data"] == {
        "score": "dissatisfied",
        "channel": "callback",
    }
    assert (rated[0]["to_status"], rated[0]["note"]) == ("reopened", "下雨还是积水")
    kpi = api.get("/api/reports/cases", params={"kpi": "reopen_rate"}, headers=auth(sup)).json()
    assert case["id"] in [c["id"] for c in kpi["numerator"]]
    tracked = api.get(f"/api/track/{case['tracking_no']}", params={"secret": case["secret"]}).json()
    assert tracked["status"] == "escalated"

    # handled again and resolved again: a new callback for the new resolution
    handle(api, op, case["id"], member_id, member, note="已更换更大管径的雨水管")
    (again,) = tasks(api, op)
    assert again["id"] != task["id"] and again["reason"] == "resolved" and "更大管径" in again["script"]["zh"]


def test_a_rating_by_the_resident_cancels_the_open_task(api, server):
    op = user_token(api, "operator")
    case, _, _ = resolved_case(api, op)
    (task,) = tasks(api, op)
    with board(server, op) as ws:
        assert api.post(f"/api/callbacks/{task['id']}/claim", headers=auth(op)).status_code == 200
        rating = {"secret": case["secret"], "score": "basically_satisfied"}
        res = api.post(f"/api/track/{case['tracking_no']}/rating", json=rating)
        assert res.status_code == 200 and res.json()["status"] == "closed"
        events = recv_until(ws, 2, types=("callback.updated",))
    assert [e["callback"]["status"] for e in events] == ["claimed", "cancelled"]
    assert tasks(api, op) == []
    (cancelled,) = tasks(api, op, status="cancelled")
    assert cancelled["cancel_reason"] == "rated" and cancelled["case"]["rating"] == "basically_satisfied"
    late = api.post(
        f"/api/callbacks/{task['id']}/complete", json={"outcome": "reached", "score": "satisfied"}, headers=auth(op)
    )
    assert late.status_code == 409
    assert case_of(api, op, case["id"])["rating"] == "basically_satisfied"  # the resident's answer stands


@NO_SWEEP
@pytest.mark.settings(callback_unrated_days=3, sweep_interval_s=3600)
def test_unrated_n_days_after_the_resolution_gives_exactly_one_task_across_job_sweeper_and_races(api, clock, scheduled):
    op = user_token(api, "operator")
    case, _, _ = resolved_case(api, op)
    (first,) = tasks(api, op)
    resolved_at = datetime.fromisoformat(first["case"]["resolved_at"].replace("Z", "+00:00"))
    # the unrated check is scheduled for resolved_at + 3 days
    ((at, job, args, job_id),) = scheduled
    assert (at, job, args) == (resolved_at + timedelta(days=3), "workers.jobs.callback_unrated", (case["id"],))
    assert job_id.startswith(f"callback-unrated-{case['id']}-")

    # three days on, the first task is still open: that is the call to make, no second task
    clock.at = resolved_at + timedelta(days=3, minutes=1)
    assert jobs.callback_unrated(case["id"]) is False and flows.sweep_callbacks() == 0
    # the operator could not reach the resident the first time
    url = f"/api/callbacks/{first['id']}/complete"
    assert api.post(url, json={"outcome": "unreachable"}, headers=auth(op)).status_code == 200

    # not yet due: nothing
    clock.at = resolved_at + timedelta(days=3) - timedelta(minutes=1)
    assert jobs.callback_unrated(case["id"]) is False and flows.sweep_callbacks() == 0
    # due: the job and two sweepers race; exactly one task
    clock.at = resolved_at + timedelta(days=3, minutes=5)
    with ThreadPoolExecutor(3) as pool:
        runs = [
            pool.submit(jobs.callback_unrated, case["id"]),
            pool.submit(flows.sweep_callbacks),
            pool.submit(flows.sweep_callbacks),
        ]
        results = [r.result() for r in runs]
    assert int(results[0]) + results[1] + results[2] == 1
    # and never again for this resolution
    clock.at = resolved_at + timedelta(days=30)
    assert jobs.callback_unrated(case["id"]) is False and flows.sweep_callbacks() == 0
    (task,) = tasks(api, op)
    assert (task["reason"], task["status"]) == ("unrated", "open")
    assert "还没有对办理结果作出评价" in task["script"]["zh"]
    assert len(tasks(api, op, status="open,claimed,done,cancelled")) == 2

    # recorded by phone: satisfied closes the case
    res = api.post(
        f"/api/callbacks/{task['id']}/complete", json={"outcome": "reached", "score": "satisfied"}, headers=auth(op)
    )
    assert res.status_code == 200 and res.json()["case"]["status"] == "closed"
    assert case_of(api, op, case["id"])["status"] == "closed"
    assert jobs.callback_unrated(case["id"]) is False and flows.sweep_callbacks() == 0


@NO_SWEEP
def test_a_case_changed_behind_the_state_machines_back_has_its_task_cancelled_by_the_sweeper_live(api, server):
    """A database edited by hand (or restored) leaves a task open for a case no longer resolved: the safety net
    cancels it as the subscriber would, and the board hears of it."""
    op = user_token(api, "operator")
    case, _, _ = resolved_case(api, op)
    other, _, _ = resolved_case(api, op, name="李四")
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE \"case\" SET status = 'closed' WHERE id = :id"), {"id": case["id"]})
    with board(server, op) as ws:
        assert flows.sweep_callbacks() == 0  # no unrated task created; the stale one cancelled
        (event,) = recv_until(ws, 1, types=("callback.updated",))
    assert event["callback"]["case_id"] == case["id"] and event["callback"]["status"] == "cancelled"
    by_case = {t["case_id"]: t for t in tasks(api, op, status="open,claimed,done,cancelled")}
    assert (by_case[case["id"]]["status"], by_case[case["id"]]["cancel_reason"]) == ("cancelled", "case_changed")
    assert by_case[other["id"]]["status"] == "open"  # a case still resolved keeps its task
