"""Group commit: intakes that arrive while a group is being written go in the next one together, and each
caller still gets its own answer — a refusal for a bad one, one case for a re-send, never a half-written case."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from helpers import api_key, auth, capture_jobs, create_member, freeze_clock, user_token

from dispatch.intake import service

LAT, LON = 33.3500, 120.1600


def wait_until(condition, what: str) -> None:
    """Poll a condition the server's threads will make true (bounded)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def wait_for_waiting(n: int) -> None:
    wait_until(lambda: len(service._group.waiting) >= n, f"{n} intakes waiting for the next group")


def test_intakes_arriving_during_a_commit_share_the_next_one_and_each_gets_its_answer(api, server, held):
    release, sizes = held
    op = user_token(api, "operator")
    create_member(api, op, level="district", lat=LAT, lon=LON, capacity=10)
    key = api_key()
    bodies = [
        {"external_id": "g-0", "content": "第一单"},  # the leader's own group
        {"external_id": "g-1", "content": "路灯不亮", "lat": LAT, "lon": LON},
        {"external_id": "g-2", "content": "井盖缺失", "lat": LAT, "lon": LON},
        {"external_id": "g-3", "content": "分类不对", "category": "no such category"},
        {"external_id": "g-1", "content": "路灯不亮（重发）", "lat": LAT, "lon": LON},  # a re-send in the same group
        {"external_id": "g-5", "content": "噪音扰民", "lat": LAT, "lon": LON},
    ]

    def post(body):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        first = pool.submit(post, bodies[0])
        wait_until(lambda: sizes, "the leader to take its group")  # and be held there
        rest = [pool.submit(post, body) for body in bodies[1:]]
        wait_for_waiting(len(rest))
        release.set()
        answers = [first.result(), *(f.result() for f in rest)]

    assert sizes[:2] == [1, 5]  # the five that waited went in one group
    assert answers[3].status_code == 422 and answers[3].json()["error"]["code"] == "unknown_category"
    created = [a for a in answers if a.status_code == 201]
    assert len(created) == 4  # g-0, g-1 once, g-2, g-5
    # the two sends of g-1 joined the group in whichever order their threads ran: one made the case, the other
    # was answered with it
    g1_sends = [answers[1], answers[4]]
    assert sorted(a.status_code for a in g1_sends) == [200, 201]
    assert g1_sends[0].json()["id"] == g1_sends[1].json()["id"]
    tracking = {a.json()["tracking_no"] for a in created}
    assert len(tracking) == 4
    listed = api.get("/api/cases", params={"limit": 50}, headers=auth(op)).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert sorted(c["tracking_no"] for c in items) == sorted(tracking)  # nothing else was written
    for answer in created[1:]:
        case = api.get(f"/api/cases/{answer.json()['id']}", headers=auth(op)).json()
        assert case["status"] == "offered"  # dispatched in the group's transaction


def test_a_group_that_fails_in_the_database_is_written_again_one_by_one(api, server, held, monkeypatch):
    """One intake whose write fails after it started writing rolls the group back; the others are then
    written alone and succeed, and the failing one gets its own error."""
    release, sizes = held
    real_insert = service.cases.insert

    def insert(session, drafts):
        written = real_insert(session, drafts)
        if any(d.new.external_id == "bad" for d in drafts):
            raise RuntimeError("the database refused this one")
        return written

    monkeypatch.setattr(service.cases, "insert", insert)
    outcomes: dict[str, object] = {}

    def submit(external_id: str) -> None:
        new = service.NewCase(channel="hotline", content="内容", actor="test", external_id=external_id)
        try:
            outcomes[external_id] = service.submit(new)[0].tracking_no
        except RuntimeError as exc:
            outcomes[external_id] = exc

    threads = [threading.Thread(target=submit, args=("lead",))]
    threads[0].start()
    wait_until(lambda: sizes, "the leader to take its group")
    for external_id in ("a", "bad", "b"):
        threads.append(threading.Thread(target=submit, args=(external_id,)))
        threads[-1].start()
    wait_for_waiting(3)
    release.set()
    for t in threads:
        t.join(30)

    assert sizes[:2] == [1, 3] and sizes[2:] == [1, 1, 1]  # the group of three, then each alone
    assert isinstance(outcomes["bad"], RuntimeError)
    assert all(isinstance(outcomes[k], str) for k in ("lead", "a", "b"))
    op = user_token(api, "operator")
    listed = api.get("/api/cases", params={"limit": 50}, headers=auth(op)).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert sorted(c["tracking_no"] for c in items) == sorted(outcomes[k] for k in ("lead", "a", "b"))


def test_a_resend_that_races_past_the_look_up_gets_the_winners_case(api, server, monkeypatch):
    """Another process committed the same work order just after this one looked: the unique constraint
    decides, and the re-send is answered with the case that won (200), not an error."""
    key = api_key()
    body = {"external_id": "race-1", "content": "路灯不亮"}
    first = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
    assert first.status_code == 201
    monkeypatch.setattr(service, "_known_external_ids", lambda session, news: {})  # the look-up missed it
    again = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]


def test_a_group_shares_its_jobs_and_each_case_is_still_handled_on_its_own(api, server, held, monkeypatch):
    """The offers made together share one offer-timeout job, the cases planned together one ladder job per
    step and second; running a shared job expires each offer (the case goes to the next member) and fires each
    case's step."""
    from datetime import timedelta

    from dispatch.deadlines import service as deadlines
    from workers import jobs

    release, sizes = held
    op = user_token(api, "operator")
    near = create_member(api, op, level="district", lat=LAT, lon=LON, capacity=10)
    other = create_member(api, op, level="district", lat=LAT + 0.01, lon=LON, capacity=10)
    timeouts = capture_jobs(monkeypatch, "workers.jobs.offer_timeout")
    steps = capture_jobs(monkeypatch, deadlines.LADDER_JOB)
    key = api_key()
    received = "2026-11-20T09:00:00+08:00"  # one start: the group's steps fall due at the same moment
    bodies = [
        {"external_id": f"j-{i}", "content": "路灯不亮", "lat": LAT, "lon": LON, "received_at": received}
        for i in range(4)
    ]

    def post(body):
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        first = pool.submit(post, bodies[0])
        wait_until(lambda: sizes, "the leader to take its group")
        rest = [pool.submit(post, body) for body in bodies[1:]]
        wait_for_waiting(len(rest))
        release.set()
        answers = [first.result(), *(f.result() for f in rest)]
    assert sizes[:2] == [1, 3] and all(a.status_code == 201 for a in answers)
    group = {a.json()["id"] for a in answers[1:]}

    def case(case_id: int) -> dict:
        return api.get(f"/api/cases/{case_id}", headers=auth(op)).json()

    assert {case(c)["offered_to"] for c in group} == {near["id"]}
    shared = [args for _, _, args, _ in timeouts if len(args) > 1]
    assert len(shared) == 1 and len(shared[0]) == 3  # the group's three offers, one job
    (at, _, args, job_id) = next(s for s in steps if len(s[2]) > 2)
    assert args[1] == "reminder" and {args[0], *args[2:]} == group and job_id.endswith("-3")
    assert len([s for s in steps if s[2][0] in group or set(s[2][2:]) & group]) == 1  # no job per case

    assert jobs.offer_timeout(*shared[0]) is True
    after = [case(c) for c in group]
    assert {c["status"] for c in after} == {"offered"} and {c["offered_to"] for c in after} == {other["id"]}

    freeze_clock(monkeypatch, at + timedelta(seconds=1))
    assert jobs.ladder_step(*args) == ["reminder"] * 3  # each case's own step, fired once
    assert jobs.ladder_step(*args) == []
