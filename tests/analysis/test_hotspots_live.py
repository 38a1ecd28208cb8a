"""Live hotspots (研判热点) over HTTP and /ws/board: similar cases in one village are flagged once, grow with new
cases, replay on reconnect, can be dismissed (operators only) or made a consultation topic, and re-running the
detection flags nothing new. Detection runs as the real RQ job the intake schedules."""

from __future__ import annotations

import math
import os
import threading
import time

import pytest
from conftest import SERVICES
from helpers import api_key, auth, board, create_member, recv, recv_until, user_token

from dispatch import clock
from dispatch.analysis import flows

DRAIN = [
    "村口排水沟堵塞，下雨后路面积水很深，污水漫进农户院子，请尽快疏通排水沟。",
    "排水沟被垃圾堵死了，昨晚下雨村口积水严重，污水倒灌进院子，希望派人疏通。",
    "村口那条排水沟堵了好久，一下雨就积水，污水进了家门，麻烦疏通一下排水沟。",
    "反映村口排水沟堵塞积水问题，污水流进院子，气味难闻，请安排疏通排水沟。",
    "排水沟堵塞又积水了，污水漫到院子里，村口这段排水沟请尽快清理疏通。",
]
OTHER = "我家老人的养老金这个月还没有发放，想咨询一下发放时间。"
HOT_TYPES = ("hotspot.flagged", "hotspot.updated", "hotspot.dismissed", "hotspot.topic", "hotspot.merged")
NOTHING = {"flagged": [], "updated": [], "merged": []}


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_195, lon + east_m / (111_195 * math.cos(math.radians(lat)))


def village(api, token: str, index: int = 0) -> dict:
    villages = api.get("/api/regions", params={"level": "village"}, headers=auth(token)).json()
    return villages[len(villages) // 3 + index * 40]


def intake(api, key: dict, ext: str, content: str, v: dict, i: int = 0) -> int:
    lat, lon = offset(v["lat"], v["lon"], 30 * i, -20 * i)
    body = {"external_id": ext, "content": content, "lat": round(lat, 6), "lon": round(lon, 6)}
    res = api.post("/api/intake/hotline", json=body, headers=key)
    assert res.status_code == 201, res.text
    return res.json()["id"]


def hot_events(ws, until, timeout: float = 15) -> list[dict]:
    """hotspot.* events from the board socket until ``until(events)`` holds (fails after ``timeout``)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while not until(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; hotspot events so far: {[(e['type'], e['hotspot']['case_ids']) for e in seen]}"
        msg = recv(ws, left)
        if msg["type"] in HOT_TYPES:
            seen.append(msg)
    return seen


def covers(ids: list[int]):
    return lambda seen: bool(seen) and set(ids) <= set(seen[-1]["hotspot"]["case_ids"])


def open_hotspots(api, token: str) -> list[dict]:
    res = api.get("/api/hotspots", headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def flagged(api, op: str, key: dict, v: dict, n: int = 3, prefix: str = "D") -> tuple[dict, list[int]]:
    """Intake ``n`` similar cases and wait (polling the API) until one open hotspot holds them all."""
    ids = [intake(api, key, f"{prefix}{i}", DRAIN[i], v, i) for i in range(n)]
    deadline = time.monotonic() + 15
    while True:
        spots = open_hotspots(api, op)
        if spots and set(ids) <= set(spots[0]["case_ids"]):
            return spots[0], ids
        assert time.monotonic() < deadline, spots
        time.sleep(0.1)


@pytest.mark.settings(reconcile_interval_s=3600)  # no safety-net runs: the detections counted are the jobs'
def test_similar_cases_are_flagged_once_then_grow_and_replay(api, server, monkeypatch):
    op = user_token(api, "operator")
    key = {"X-API-Key": api_key("hotline")}
    v = village(api, op)
    runs: list[dict] = []
    real_detect = flows.detect
    monkeypatch.setattr(flows, "detect", lambda: runs.append(real_detect()) or runs[-1])

    with board(server, op) as ws:
        hello = recv(ws)
        assert hello["type"] == "hello"
        ids = [intake(api, key, f"D{i}", DRAIN[i], v, i) for i in range(4)]
        other = intake(api, key, "O1", OTHER, v, 5)
        seen = hot_events(ws, covers(ids))
        assert [e["type"] for e in seen].count("hotspot.flagged") == 1 and seen[0]["type"] == "hotspot.flagged"
        spot = seen[-1]["hotspot"]
        assert {e["hotspot"]["id"] for e in seen} == {spot["id"]}
        assert spot["case_ids"] == sorted(ids) and other not in spot["case_ids"]
        assert spot["status"] == "open" and spot["size"] == 4
        assert spot["village_code"] == v["code"] and spot["town_code"] == v["parent_code"]
        assert spot["place"] == v["name"] and v["name"] in spot["title"]
        assert "排水沟" in spot["keywords"]
        assert spot["first_at"] <= spot["last_at"]
        assert spot["lat"] == pytest.approx(v["lat"], abs=0.01)
        assert [(h["id"], h["case_ids"]) for h in open_hotspots(api, op)] == [(spot["id"], spot["case_ids"])]

        # a further similar case: the same hotspot grows (hotspot.updated), no second flag
        fifth = intake(api, key, "D4", DRAIN[4], v, 4)
        more = hot_events(ws, covers([*ids, fifth]))
        assert [e["type"] for e in more] == ["hotspot.updated"] * len(more)
        grown = more[-1]["hotspot"]
        assert grown["id"] == spot["id"] and grown["key"] == spot["key"] and grown["size"] == 5
        assert grown["first_flagged_at"] == spot["first_flagged_at"]

    # the intake scheduled coalesced jobs, not one detection per case
    assert 1 <= len(runs) <= 4, runs
    assert sum(len(r["flagged"]) for r in runs) == 1

    # running the detection again (the safety net does) flags and updates nothing
    assert real_detect() == NOTHING
    assert [h["id"] for h in open_hotspots(api, op)] == [spot["id"]]

    # a board that was away catches up from its last event id: the flag and the growth are replayed
    with board(server, op, last_event_id=hello["id"]) as again:
        replayed = hot_events(again, covers([*ids, fifth]))
        assert [e["type"] for e in replayed][0] == "hotspot.flagged"
        assert [e["type"] for e in replayed].count("hotspot.flagged") == 1


def test_bulk_intake_runs_few_detections(api, server, monkeypatch):
    op = user_token(api, "operator")
    key = {"X-API-Key": api_key("hotline")}
    v = village(api, op, 1)
    runs: list[dict] = []
    real_detect = flows.detect
    monkeypatch.setattr(flows, "detect", lambda: runs.append(real_detect()) or runs[-1])
    items = []
    for i in range(24):
        lat, lon = offset(v["lat"], v["lon"], 10 * i, 0)
        text = DRAIN[i % len(DRAIN)]
        items.append({"external_id": f"B{i}", "content": text, "lat": round(lat, 6), "lon": round(lon, 6)})
    res = api.post("/api/intake/hotline", json=items, headers=key)
    assert res.status_code == 207 and all(r["status"] == 201 for r in res.json()), res.text
    ids = {r["body"]["id"] for r in res.json()}
    deadline = time.monotonic() + 20
    while not (spots := open_hotspots(api, op)) or set(spots[0]["case_ids"]) != ids:
        assert time.monotonic() < deadline, spots
        time.sleep(0.2)
    assert len(spots) == 1 and spots[0]["size"] == 24
    assert len(runs) <= 8, f"{len(runs)} detections for 24 cases"


def test_dismiss_needs_an_operator_and_a_reason(api, server):
    op, sup = user_token(api, "operator"), user_token(api, "supervisor")
    member = user_token(api, "member", member_id=create_member(api, op, level="district")["id"])
    key = {"X-API-Key": api_key("hotline")}
    spot, ids = flagged(api, op, key, village(api, op))

    assert api.get("/api/hotspots", headers=auth(sup)).status_code == 200
    assert api.get("/api/hotspots", headers=auth(member)).status_code == 403
    assert api.get("/api/hotspots").status_code == 401
    url = f"/api/hotspots/{spot['id']}/dismiss"
    assert api.post(url, json={"reason": "同一问题已在处理"}, headers=auth(sup)).status_code == 403
    assert api.post(url, json={"reason": "同一问题已在处理"}, headers=auth(member)).status_code == 403
    res = api.post(url, json={}, headers=auth(op))
    assert res.status_code == 422 and res.json()["error"]["code"] in ("missing_field", "invalid_request"), res.text
    assert api.post("/api/hotspots/99999/dismiss", json={"reason": "x"}, headers=auth(op)).status_code == 404

    with board(server, op) as ws:
        assert recv(ws)["type"] == "hello"
        res = api.post(url, json={"reason": "同一问题已在处理"}, headers=auth(op))
        assert res.status_code == 200, res.text
        out = res.json()
        assert out["status"] == "dismissed" and out["dismiss_reason"] == "同一问题已在处理"
        assert out["closed_by"].startswith("operator:")
        ev = hot_events(ws, lambda seen: bool(seen))[0]
        assert ev["type"] == "hotspot.dismissed" and ev["hotspot"]["id"] == spot["id"]

    assert open_hotspots(api, op) == []
    res = api.post(url, json={"reason": "again"}, headers=auth(op))
    assert res.status_code == 409 and res.json()["error"]["code"] == "hotspot_closed"
    res = api.post(f"/api/hotspots/{spot['id']}/topic", json={}, headers=auth(op))
    assert res.status_code == 409
    # the dismissed cluster is not flagged again, not even after a re-run
    assert flows.detect() == NOTHING
    assert open_hotspots(api, op) == []
    dismissed = api.get("/api/hotspots", params={"status": "dismissed"}, headers=auth(op)).json()
    assert [h["id"] for h in dismissed] == [spot["id"]] and dismissed[0]["case_ids"] == sorted(ids)


def test_make_it_a_topic(api, server):
    op, sup = user_token(api, "operator"), user_token(api, "supervisor")
    key = {"X-API-Key": api_key("hotline")}
    spot, ids = flagged(api, op, key, village(api, op, 2), n=4, prefix="T")
    url = f"/api/hotspots/{spot['id']}/topic"
    assert api.post(url, headers=auth(sup)).status_code == 403

    with board(server, op) as ws:
        assert recv(ws)["type"] == "hello"
        res = api.post(url, headers=auth(op))  # no body: the suggested title
        assert res.status_code == 201, res.text
        made = res.json()
        ev = hot_events(ws, lambda seen: bool(seen))[0]
    assert ev["type"] == "hotspot.topic" and ev["hotspot"]["status"] == "topic"
    topic_id = made["topic"]["id"]
    assert made["hotspot"]["topic_id"] == topic_id == ev["hotspot"]["topic_id"]

    topic = api.get(f"/api/consultations/topics/{topic_id}", headers=auth(op)).json()
    assert topic["source"] == "cases" and topic["status"] == "proposed"
    assert topic["case_ids"] == sorted(ids) and topic["title"] == spot["title"]
    assert topic["village_code"] == spot["village_code"]
    listed = api.get("/api/consultations/topics", headers=auth(op)).json()
    assert [t["id"] for t in listed] == [topic_id]

    assert open_hotspots(api, op) == []
    again = api.post(url, headers=auth(op))
    assert again.status_code == 409 and again.json()["error"]["details"]["topic_id"] == topic_id
    assert flows.detect() == NOTHING
    done = api.get("/api/hotspots", params={"status": "topic"}, headers=auth(sup)).json()
    assert [(h["id"], h["topic_id"]) for h in done] == [(spot["id"], topic_id)]


@pytest.mark.settings(offer_timeout_s=1, sweep_interval_s=3600)
def test_a_long_detection_never_holds_up_an_offer_timeout(api, server, monkeypatch):
    """Detection runs on its own queue and worker: while one is held mid-run, an offer still times out on time
    (the sweeper is slowed to an hour, so only the timeout job can move the case on)."""
    started, release = threading.Event(), threading.Event()
    real = flows.detect

    def held() -> dict:
        started.set()
        release.wait(30)
        return real()

    monkeypatch.setattr(flows, "detect", held)
    op = user_token(api, "operator")
    v = village(api, op)
    near = create_member(api, op, name="近", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    far = create_member(api, op, name="远", town_code=v["parent_code"], lat=v["lat"] + 0.01, lon=v["lon"])
    try:
        with board(server, op) as ws:
            case_id = intake(api, {"X-API-Key": api_key()}, "slow-1", DRAIN[0], v)
            assert started.wait(15), "the detection job never started"
            events = recv_until(ws, 4, case_id=case_id, timeout=15)
            assert [e["type"] for e in events] == ["case.created", "case.offered", "case.offer_expired", "case.offered"]
            assert events[1]["case"]["offered_to"] == near["id"] and events[3]["case"]["offered_to"] == far["id"]
            assert not release.is_set()  # all of it happened while the detection was still held
    finally:
        release.set()


def test_a_long_detection_holds_the_next_one_back_so_it_keeps_to_a_fifth_of_a_core(api, server, monkeypatch):
    """Under continuous intake a detection that took d seconds is followed by the next one no sooner than 4 d
    later (the detection runs at most a fifth of the time), instead of back to back."""
    ticks = iter([100.0, 103.0])  # the run takes 3 s
    monkeypatch.setattr(clock, "monotonic", lambda: next(ticks))
    monkeypatch.setattr(flows, "detect", lambda: {})
    scheduled: list = []
    monkeypatch.setattr(flows, "schedule", lambda at, job, *a, job_id, analysis: scheduled.append(at) or True)

    flows.run_detection()
    asked = flows.utcnow()
    assert flows.schedule_detection() is True
    wait = (scheduled[0] - asked).total_seconds()
    assert 11.5 <= wait <= 12.5, wait  # 3 s × (1 / 0.2 - 1)
    assert flows.schedule_detection() is False  # one job due: later asks add nothing
    assert flows.get_broker().r.ttl(flows.PENDING_KEY) > wait  # the marker outlives the wait


def test_a_detection_asked_for_during_a_run_waits_out_that_runs_hold_back(api, server, monkeypatch):
    """A case committed during a 3 s detection schedules the next one for a second later, before the run knows
    how long it takes; when that job comes due it must not detect, but move itself to the hold-back's end."""
    ticks = iter([100.0, 103.0])  # the run takes 3 s
    monkeypatch.setattr(clock, "monotonic", lambda: next(ticks))
    scheduled: list = []
    monkeypatch.setattr(flows, "schedule", lambda at, job, *a, job_id, analysis: scheduled.append(at) or True)
    runs: list = []

    def detect() -> dict:
        runs.append(flows.schedule_detection())  # a case committed mid-run asks for the next detection
        return {}

    monkeypatch.setattr(flows, "detect", detect)
    flows.run_detection()
    assert runs == [True] and len(scheduled) == 1  # the next job is due about a second later
    result = flows.run_detection()  # ...and runs: it only reschedules itself
    assert runs == [True] and "held_back_s" in result
    wait = (scheduled[-1] - flows.utcnow()).total_seconds()
    assert 11 <= wait <= 12.5, wait  # 3 s × (1 / 0.2 - 1), less the moment since the run ended
    assert flows.get_broker().r.ttl(flows.PENDING_KEY) > wait  # asks meanwhile add nothing


@pytest.mark.settings(reconcile_interval_s=3600)  # the test runs the safety net itself
def test_a_lost_detection_job_is_made_up_by_the_safety_net_on_the_analysis_queue(api, server, monkeypatch):
    """The intake's detection job is lost (its marker stays until it expires); the maintenance loop's safety net
    then asks for a detection, which the analysis queue's worker runs: the hotspot appears."""
    op = user_token(api, "operator")
    key = {"X-API-Key": api_key("hotline")}
    v = village(api, op, 2)
    monkeypatch.setattr(flows, "schedule", lambda *a, **k: True)  # "scheduled", but the job never exists
    ids = [intake(api, key, f"L{i}", DRAIN[i], v, i) for i in range(3)]
    assert open_hotspots(api, op) == []
    monkeypatch.undo()
    flows.get_broker().r.delete(flows.PENDING_KEY)  # the lost job's marker expired

    from dispatch.maintenance import Maintenance

    Maintenance().tick(sweep=False, reconcile=True)
    deadline = time.monotonic() + 15
    while not (spots := open_hotspots(api, op)) or not set(ids) <= set(spots[0]["case_ids"]):
        assert time.monotonic() < deadline, spots
        time.sleep(0.1)


@pytest.mark.skipif(SERVICES, reason="the embedded default only (with services an RQ worker process clusters)")
def test_the_embedded_default_clusters_in_a_low_priority_child_process_not_beside_intake(api, server):
    """In the embedded default the worker is a thread of the API process: clustering there held the GIL that
    intake needed for seconds at a time (intake fell from 244 to 47 cases/s during a run)."""
    op = user_token(api, "operator")
    spot, ids = flagged(api, op, {"X-API-Key": api_key("hotline")}, village(api, op))
    assert set(ids) <= set(spot["case_ids"])
    children = flows.child_pids()
    assert children and os.getpid() not in children
    assert os.getpriority(os.PRIO_PROCESS, children[0]) >= os.getpriority(os.PRIO_PROCESS, 0) + flows.CHILD_NICE
