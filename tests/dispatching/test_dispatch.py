"""The nearest-member rule, offers, declines, acceptance and the live board, through HTTP and websockets."""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from helpers import api_key, auth, board, create_member, recv_until, user_token

from dispatch.geo import haversine_m

CATEGORY = "城乡建设/城市建设和市政管理/城市公共设施"


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (round(lat + north_m / 111_195.0, 7), round(lon + east_m / (111_195.0 * math.cos(math.radians(lat))), 7))


def brute_force_nearest(members: list[dict], case: dict, excluded: set[int], radius_m: float = 5000) -> int | None:
    """The contract's rule, computed independently over every member."""
    ranked = brute_force_ranking(members, case, excluded, radius_m)
    return ranked[0] if ranked else None


def brute_force_ranking(members: list[dict], case: dict, excluded: set[int], radius_m: float = 5000) -> list[int]:
    """Every eligible member in the order the rule would offer the case to them."""

    def takes(m: dict) -> bool:
        cats = m["categories"]
        return not cats or any(case["category"] == c or case["category"].startswith(c + "/") for c in cats)

    def covers(m: dict) -> bool:
        return m["level"] == "district" or m["town_code"] == case["town_code"]

    ranked = []
    for m in members:
        if m["id"] in excluded or not m["on_duty"] or m["load"] >= m["capacity"] or not takes(m) or not covers(m):
            continue
        d = haversine_m(case["lat"], case["lon"], m["lat"], m["lon"])
        if d <= radius_m:
            ranked.append((m["level"] == "district", d, m["id"]))
    return [member_id for _, _, member_id in sorted(ranked)]


@pytest.fixture
def village(api):
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = next(v for v in villages if v["parent_code"] != villages[0]["parent_code"])
    other_town = villages[0]["parent_code"]
    return op, v, other_town


def test_offers_follow_the_nearest_member_rule_and_the_board_sees_each_step(api, server, village):
    op, v, other_town = village
    town = v["parent_code"]
    lat, lon = v["lat"], v["lon"]
    spec = [
        # (name, level, town, metres north, metres east, categories, capacity, on_duty)
        ("off duty, nearest", "town", town, 80, 0, [], 3, False),
        ("no capacity", "town", town, 0, 120, [], 0, True),
        ("wrong category", "village", town, -150, 0, ["环境保护"], 3, True),
        ("other town", "town", other_town, 0, -100, [], 3, True),
        ("district, very near", "district", None, 40, 40, [], 3, True),
        ("tie A", "town", town, 500, 0, [], 3, True),
        ("tie B", "town", town, 500, 0, [], 3, True),
        ("category by prefix", "village", town, 0, 700, ["城乡建设"], 3, True),
        ("plain, farther", "town", town, -1000, 0, [], 3, True),
        ("outside radius", "town", town, 6000, 0, [], 3, True),
        ("district, far", "district", None, 0, -3000, [], 3, True),
    ]
    made = {}
    for name, level, t, north, east, cats, cap, duty in spec:
        mlat, mlon = offset(lat, lon, north, east)
        made[name] = create_member(
            api,
            op,
            name=name,
            level=level,
            town_code=t,
            lat=mlat,
            lon=mlon,
            categories=cats,
            capacity=cap,
            on_duty=duty,
        )["id"]
    member_ids = {i: n for n, i in made.items()}
    tokens = {i: user_token(api, "member", f"m{i}", member_id=i) for i in made.values()}

    with board(server, op) as ws:
        case_lat, case_lon = offset(lat, lon, 10, 10)
        res = api.post(
            "/api/intake/hotline",
            headers={"X-API-Key": api_key()},
            json={
                "external_id": "rule-1",
                "content": "路灯不亮",
                "category": CATEGORY,
                "lat": case_lat,
                "lon": case_lon,
            },
        )
        assert res.status_code == 201, res.text
        case_id = res.json()["id"]

        offered_names = []
        excluded: set[int] = set()
        while True:
            case = api.get(f"/api/cases/{case_id}", headers=auth(op)).json()
            assert case["town_code"] == town
            members = api.get("/api/members", headers=auth(op)).json()
            expected = brute_force_nearest(members, case, excluded)
            if expected is None:
                assert case["status"] == "escalated"
                break
            assert case["status"] == "offered"
            assert case["offered_to"] == expected, (member_ids.get(case["offered_to"]), member_ids[expected])
            offered_names.append(member_ids[expected])
            excluded.add(expected)
            if member_ids[expected] == "plain, farther":
                break
            res = api.post(f"/api/cases/{case_id}/decline", json={"reason": "不在附近"}, headers=auth(tokens[expected]))
            assert res.status_code == 200, res.text

        # ties by lower id, town-level before district, then the rest in distance order
        assert offered_names == ["tie A", "tie B", "category by prefix", "plain, farther"]
        holder = made["plain, farther"]
        res = api.post(f"/api/cases/{case_id}/accept", headers=auth(tokens[holder]))
        assert res.status_code == 200, res.text
        assert res.json()["status"] == "assigned" and res.json()["assignee_id"] == holder

        events = recv_until(ws, 9, case_id=case_id)
        assert [e["type"] for e in events] == [
            "case.created",
            "case.offered",
            "case.declined",
            "case.offered",
            "case.declined",
            "case.offered",
            "case.declined",
            "case.offered",
            "case.accepted",
        ]
        assert [e["case"]["offered_to"] for e in events if e["type"] == "case.offered"] == [
            made["tie A"],
            made["tie B"],
            made["category by prefix"],
            holder,
        ]
        ids = [e["id"] for e in events]
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))


def test_the_operators_candidate_list_ranks_members_as_the_dispatcher_offers(api, village):
    """The rule has two implementations (the Lua claim on Redis and the database query behind the operator's
    candidate list); on a random crowd both agree with the contract, in full order."""
    op, v, other_town = village
    town = v["parent_code"]
    rng = random.Random(17)
    for i in range(24):
        mlat, mlon = offset(v["lat"], v["lon"], rng.uniform(-4000, 4000), rng.uniform(-4000, 4000))
        create_member(
            api,
            op,
            name=f"随机{i}",
            level=rng.choice(["town", "town", "village", "district"]),
            town_code=rng.choice([town, town, town, other_town]),
            lat=mlat,
            lon=mlon,
            categories=rng.choice([[], [], ["城乡建设"], [CATEGORY], ["环境保护"]]),
            capacity=rng.choice([0, 1, 1, 2]),
            on_duty=rng.random() > 0.2,
        )
    before = api.get("/api/members", headers=auth(op)).json()
    body = {"external_id": "rank-1", "content": "路灯不亮", "category": CATEGORY, "lat": v["lat"], "lon": v["lon"]}
    res = api.post("/api/intake/hotline", headers={"X-API-Key": api_key()}, json=body)
    assert res.status_code == 201, res.text
    case = api.get(f"/api/cases/{res.json()['id']}", headers=auth(op)).json()
    ranked = brute_force_ranking(before, case, set())
    assert len(ranked) >= 3  # the crowd leaves a real choice
    assert case["offered_to"] == ranked[0]

    now = api.get("/api/members", headers=auth(op)).json()  # the offer counts against its member's capacity
    listed = api.get(f"/api/cases/{case['id']}/candidates?limit=20", headers=auth(op)).json()
    assert [c["member_id"] for c in listed] == brute_force_ranking(now, case, set())[:20]
    assert [c["member_id"] for c in listed if c["previously_offered"]] == (
        [ranked[0]] if ranked[0] in [c["member_id"] for c in listed] else []
    )


def test_district_members_take_what_town_members_cannot(api, village):
    op, v, _ = village
    lat, lon = v["lat"], v["lon"]
    d = create_member(api, op, name="区委员", level="district", lat=lat, lon=lon + 0.01)["id"]
    res = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": api_key()},
        json={"external_id": "d-1", "content": "噪音扰民", "lat": lat, "lon": lon},
    )
    case = api.get(f"/api/cases/{res.json()['id']}", headers=auth(op)).json()
    assert case["offered_to"] == d


def test_nobody_eligible_escalates_to_the_operator_queue(api, village):
    op, v, _ = village
    res = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": api_key()},
        json={"external_id": "e-1", "content": "井盖缺失", "lat": v["lat"], "lon": v["lon"]},
    )
    assert res.json()["status"] == "escalated"
    queue = api.get("/api/cases?status=escalated", headers=auth(op)).json()
    assert [c["id"] for c in queue] == [res.json()["id"]]
    events = api.get(f"/api/cases/{res.json()['id']}/events", headers=auth(op)).json()
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "new"),
        ("escalated", "new", "escalated"),
    ]


def test_same_external_id_twice_and_ten_times_concurrently_makes_one_case(api, server):
    key = api_key()
    body = {"external_id": "WO-2026-77", "content": "小区停水", "caller_phone": "13812345678"}
    first = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
    again = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]

    body2 = {"external_id": "WO-2026-78", "content": "小区停电"}

    def send(_):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            return c.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body2)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(send, range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["tracking_no"] for a in answers}) == 1
    op = user_token(api, "operator")
    cases = api.get("/api/cases?channel=hotline", headers=auth(op)).json()
    assert sorted(c["external_id"] for c in cases) == ["WO-2026-77", "WO-2026-78"]


def test_fifty_concurrent_cases_near_a_member_of_capacity_one_make_exactly_one_offer(api, server, village):
    op, v, _ = village
    m = create_member(api, op, name="唯一委员", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], capacity=1)
    key = api_key()

    def send(i):
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.post(
                "/api/intake/hotline",
                headers={"X-API-Key": key},
                json={"external_id": f"burst-{i}", "content": f"第{i}件", "lat": v["lat"] + i * 1e-5, "lon": v["lon"]},
            )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(50)))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
    cases = api.get("/api/cases?limit=100", headers=auth(op)).json()
    assert len(cases) == 50
    offered = [c for c in cases if c["offered_to"] == m["id"]]
    assert len(offered) == 1
    assert sorted({c["status"] for c in cases}) == ["escalated", "offered"]
    member = api.get(f"/api/members/{m['id']}", headers=auth(op)).json()
    assert member["load"] == 1


def test_illegal_transition_answers_409_with_the_allowed_moves(api, village):
    op, v, _ = village
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    tok = user_token(api, "member", "mm", member_id=m["id"])
    case_id = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": api_key()},
        json={"external_id": "t-1", "content": "路面破损", "lat": v["lat"], "lon": v["lon"]},
    ).json()["id"]
    res = api.post(f"/api/cases/{case_id}/resolve", json={"note": "已修复"}, headers=auth(tok))
    assert res.status_code == 403  # offered, not yet theirs
    assert api.post(f"/api/cases/{case_id}/accept", headers=auth(tok)).status_code == 200
    res = api.post(f"/api/cases/{case_id}/accept", headers=auth(tok))
    assert res.status_code == 409
    err = res.json()["error"]
    assert err["code"] == "illegal_transition"
    assert err["details"]["allowed"] == ["cancelled", "escalated", "forwarded", "in_progress", "merged", "resolved"]
    assert (
        api.post(f"/api/cases/{case_id}/progress", json={"note": "已到现场"}, headers=auth(tok)).json()["status"]
        == "in_progress"
    )
    assert (
        api.post(f"/api/cases/{case_id}/resolve", json={"note": "已修复"}, headers=auth(tok)).json()["status"]
        == "resolved"
    )
    # the slot is free again
    assert api.get(f"/api/members/{m['id']}", headers=auth(op)).json()["load"] == 0


def test_manual_assignment_withdraws_the_open_offer(api, village):
    op, v, _ = village
    a = create_member(api, op, name="甲", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    b = create_member(api, op, name="乙", town_code=v["parent_code"], lat=v["lat"] + 0.02, lon=v["lon"])
    case_id = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": api_key()},
        json={"external_id": "m-1", "content": "垃圾未清运", "lat": v["lat"], "lon": v["lon"]},
    ).json()["id"]
    res = api.post(f"/api/cases/{case_id}/assign", json={"member_id": b["id"]}, headers=auth(op))
    assert res.status_code == 200
    assert (res.json()["status"], res.json()["assignee_id"], res.json()["offered_to"]) == ("assigned", b["id"], None)
    loads = {m["id"]: m["load"] for m in api.get("/api/members", headers=auth(op)).json()}
    assert loads == {a["id"]: 0, b["id"]: 1}
    member_tok = user_token(api, "member", "ma", member_id=a["id"])
    assert (
        api.post(f"/api/cases/{case_id}/assign", json={"member_id": a["id"]}, headers=auth(member_tok)).status_code
        == 403
    )


@pytest.mark.settings(offer_timeout_s=1)
def test_an_unanswered_offer_times_out_to_the_next_member(api, server, village):
    op, v, _ = village
    near = create_member(api, op, name="近", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    far = create_member(api, op, name="远", town_code=v["parent_code"], lat=v["lat"] + 0.01, lon=v["lon"])
    with board(server, op) as ws:
        case_id = api.post(
            "/api/intake/hotline",
            headers={"X-API-Key": api_key()},
            json={"external_id": "to-1", "content": "树木倒伏", "lat": v["lat"], "lon": v["lon"]},
        ).json()["id"]
        events = recv_until(ws, 4, case_id=case_id, timeout=15)
        assert [e["type"] for e in events] == ["case.created", "case.offered", "case.offer_expired", "case.offered"]
        assert events[1]["case"]["offered_to"] == near["id"]
        assert events[3]["case"]["offered_to"] == far["id"]
        trail = api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()
        assert trail[2]["actor"] == "system" and trail[2]["action"] == "offer_expired"


def test_going_off_duty_or_moving_changes_who_is_nearest_at_once(api, village):
    op, v, _ = village
    near = create_member(api, op, name="近", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    far_lat, far_lon = offset(v["lat"], v["lon"], 2000, 0)
    far = create_member(api, op, name="远", town_code=v["parent_code"], lat=far_lat, lon=far_lon)
    key = {"X-API-Key": api_key()}

    def new_case(ext: str) -> dict:
        res = api.post(
            "/api/intake/hotline",
            headers=key,
            json={"external_id": ext, "content": "路灯", "lat": v["lat"], "lon": v["lon"]},
        )
        return api.get(f"/api/cases/{res.json()['id']}", headers=auth(op)).json()

    assert new_case("duty-1")["offered_to"] == near["id"]
    me = user_token(api, "member", "near", member_id=near["id"])
    res = api.patch(f"/api/members/{near['id']}", json={"on_duty": False}, headers=auth(me))
    assert res.status_code == 200 and res.json()["on_duty"] is False
    assert new_case("duty-2")["offered_to"] == far["id"]
    api.patch(f"/api/members/{near['id']}", json={"on_duty": True}, headers=auth(me))
    # the near member walks 3 km away; the far one is now nearest
    away = offset(v["lat"], v["lon"], -3000, 0)
    res = api.put(f"/api/members/{near['id']}/position", json={"lat": away[0], "lon": away[1]}, headers=auth(me))
    assert res.status_code == 200 and res.json()["position_at"] is not None
    assert new_case("duty-3")["offered_to"] == far["id"]
    # positions in GCJ-02 are stored in WGS-84
    from dispatch.geo import wgs84_to_gcj02

    g = wgs84_to_gcj02(v["lat"], v["lon"])
    res = api.put(
        f"/api/members/{near['id']}/position",
        json={"lat": g[0], "lon": g[1], "coord_system": "gcj02"},
        headers=auth(me),
    )
    assert haversine_m(res.json()["lat"], res.json()["lon"], v["lat"], v["lon"]) < 1
    assert new_case("duty-4")["offered_to"] == near["id"]
    # a member may not move someone else
    other = user_token(api, "member", "far", member_id=far["id"])
    res = api.put(f"/api/members/{near['id']}/position", json={"lat": v["lat"], "lon": v["lon"]}, headers=auth(other))
    assert res.status_code == 403


def test_a_leaked_claim_is_given_back_by_reconciliation(api, village):
    """A process that dies between claiming a slot in Redis and committing leaks it; the maintenance loop
    notices the counter disagreeing with the database twice in a row and corrects it."""
    from sqlmodel import Session

    from dispatch.db import get_engine
    from dispatch.dispatching.locator import get_locator
    from dispatch.members import service

    def reconcile_loads() -> list[int]:
        with Session(get_engine()) as session:  # as the maintenance loop does: a short session of its own
            return service.reconcile_loads(session)

    op, v, _ = village
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], capacity=1)
    key = {"X-API-Key": api_key()}
    far = offset(v["lat"], v["lon"], 20_000, 0)
    assert (
        api.post(
            "/api/intake/hotline",
            headers=key,
            json={"external_id": "leak-0", "content": "远处", "lat": far[0], "lon": far[1]},
        ).json()["status"]
        == "escalated"
    )
    get_locator().take(m["id"])  # the claim of a process that died before committing

    def near(ext: str) -> str:
        return api.post(
            "/api/intake/hotline",
            headers=key,
            json={"external_id": ext, "content": "近处", "lat": v["lat"], "lon": v["lon"]},
        ).json()["status"]

    assert near("leak-1") == "escalated"  # the member looks full
    assert reconcile_loads() == []  # first sighting: could be a claim in flight
    assert reconcile_loads() == [m["id"]]  # still wrong the same way: corrected
    assert near("leak-2") == "offered"
    assert reconcile_loads() == []


@pytest.mark.settings(sweep_interval_s=0.5)
def test_dispatch_waits_while_another_process_rebuilds_the_sets(api, server, village):
    from dispatch.broker import get_broker
    from dispatch.dispatching import locator

    op, v, _ = village
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    r = get_broker().r
    r.delete(locator.READY)  # as after a Redis restart...
    r.set(locator.REBUILD_LOCK, "another-process", ex=60)  # ...while another process rebuilds
    with board(server, op) as ws:
        res = api.post(
            "/api/intake/hotline",
            headers={"X-API-Key": api_key()},
            json={"external_id": "rb-1", "content": "路灯", "lat": v["lat"], "lon": v["lon"]},
        )
        assert res.status_code == 201 and res.json()["status"] == "new"  # committed, dispatch deferred
        r.delete(locator.REBUILD_LOCK)  # the other process died; the sweeper rebuilds and dispatches
        offered = recv_until(ws, 1, types=("case.offered",), case_id=res.json()["id"], timeout=20)[0]
    assert offered["case"]["offered_to"] == m["id"]
