"""研判 through HTTP: hotspots among open cases, category suggestions, role checks; the clustering rule on
synthetic places and times; and the evaluation on ../shared/data (skipped only when that folder is absent)."""

from __future__ import annotations

import importlib.util
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from helpers import api_key, auth, create_member, user_token

from dispatch.analysis import classify, hotspots

ROOT = Path(__file__).resolve().parents[2]

# Four calls about the same blocked drain in one village, in words of our own.
DRAIN = [
    "村口排水沟堵塞，下雨后路面积水很深，污水漫进农户院子，请尽快疏通排水沟。",
    "排水沟被垃圾堵死了，昨晚下雨村口积水严重，污水倒灌进院子，希望派人疏通。",
    "村口那条排水沟堵了好久，一下雨就积水，污水进了家门，麻烦疏通一下排水沟。",
    "反映村口排水沟堵塞积水问题，污水流进院子，气味难闻，请安排疏通排水沟。",
]
OTHER_HERE = [
    "孩子上学的校车这学期停运了，接送很不方便，想问问什么时候恢复校车。",
    "我家老人的养老金这个月还没有发放，想咨询一下发放时间。",
]
DRAIN_FAR = [  # the same words far away: text alone must not join them to the hotspot
    "村口排水沟堵塞，下雨后积水严重，污水漫进院子，请疏通排水沟。",
    "排水沟堵了，村口积水，污水进院子，请尽快疏通排水沟。",
]


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_195, lon + east_m / (111_195 * math.cos(math.radians(lat)))


def post_case(api, key: dict, ext: str, content: str, lat: float, lon: float) -> int:
    item = {"external_id": ext, "content": content, "lat": round(lat, 6), "lon": round(lon, 6)}
    res = api.post("/api/intake/hotline", json=item, headers=key)
    assert res.status_code == 201, res.text
    return res.json()["id"]


def two_far_villages(api, token: str) -> tuple[dict, dict]:
    res = api.get("/api/regions", params={"level": "village"}, headers=auth(token))
    assert res.status_code == 200, res.text
    villages = res.json()
    a = villages[len(villages) // 2]
    far = [v for v in villages if hotspots.haversine_m(a["lat"], a["lon"], v["lat"], v["lon"]) > 10_000]
    return a, far[0]


def test_hotspot_of_similar_cases_in_one_village(api):
    op = user_token(api, "operator")
    key = {"X-API-Key": api_key("hotline")}
    a, b = two_far_villages(api, op)
    drain_ids = [
        post_case(api, key, f"D{i}", text, *offset(a["lat"], a["lon"], 40 * i, -30 * i)) for i, text in enumerate(DRAIN)
    ]
    others = [
        post_case(api, key, f"O{i}", text, *offset(a["lat"], a["lon"], -50, 20 * i))
        for i, text in enumerate(OTHER_HERE)
    ]
    others += [
        post_case(api, key, f"F{i}", text, *offset(b["lat"], b["lon"], 10 * i, 0)) for i, text in enumerate(DRAIN_FAR)
    ]

    res = api.get("/api/analysis/hotspots", params={"days": 7}, headers=auth(op))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["cases_considered"] == 8
    assert len(body["hotspots"]) == 1, body
    spot = body["hotspots"][0]
    assert spot["case_ids"] == sorted(drain_ids) and spot["size"] == 4
    assert not set(others) & set(spot["case_ids"])
    assert spot["village_codes"] == [a["code"]] and spot["town_codes"] == [a["parent_code"]]
    assert spot["place"] == a["name"] and a["name"] in spot["topic_title"]
    assert "排水沟" in spot["keywords"]
    assert spot["first_at"] <= spot["last_at"]

    # the town filter: the hotspot's own town keeps it, the far village's town (if another) does not
    res = api.get("/api/analysis/hotspots", params={"town_code": a["parent_code"]}, headers=auth(op))
    assert [s["case_ids"] for s in res.json()["hotspots"]] == [sorted(drain_ids)]
    if b["parent_code"] != a["parent_code"]:
        res = api.get("/api/analysis/hotspots", params={"town_code": b["parent_code"]}, headers=auth(op))
        assert res.json()["hotspots"] == []


def test_a_full_window_holds_the_newest_cases(api, monkeypatch):
    """Past ``MAX_CASES`` open cases, detection looks at the newest: new hotspots keep being found."""
    from dispatch.analysis import service

    monkeypatch.setattr(service, "MAX_CASES", len(DRAIN))
    op = user_token(api, "operator")
    key = {"X-API-Key": api_key("hotline")}
    a, b = two_far_villages(api, op)
    for i, text in enumerate(OTHER_HERE + DRAIN_FAR):
        post_case(api, key, f"O{i}", text, *offset(b["lat"], b["lon"], 0, 900 * i))
    drain_ids = [
        post_case(api, key, f"D{i}", text, *offset(a["lat"], a["lon"], 40 * i, 0)) for i, text in enumerate(DRAIN)
    ]
    body = api.get("/api/analysis/hotspots", headers=auth(op)).json()
    assert body["cases_considered"] == len(DRAIN)
    assert [s["case_ids"] for s in body["hotspots"]] == [sorted(drain_ids)]


def test_roles(api):
    sup, op = user_token(api, "supervisor"), user_token(api, "operator")
    member = user_token(api, "member", member_id=create_member(api, op, level="district")["id"])
    assert api.get("/api/analysis/hotspots", headers=auth(sup)).status_code == 200
    assert api.get("/api/analysis/hotspots", headers=auth(member)).status_code == 403
    assert api.get("/api/analysis/hotspots").status_code == 401
    assert api.get("/api/analysis/hotspots", headers={"X-API-Key": api_key("hotline")}).status_code == 403
    body = {"text": "公司拖欠工资"}
    assert api.post("/api/analysis/suggest-category", json=body, headers=auth(member)).status_code == 403
    assert api.post("/api/analysis/suggest-category", json=body).status_code == 401
    assert api.post("/api/analysis/suggest-category", json={"text": ""}, headers=auth(op)).status_code == 422


SENTENCES = [
    ("我在建筑公司打工，老板拖欠了我们半年的工资，劳动合同也不签，社保也没有缴纳。", "劳动和社会保障"),
    ("孩子所在的小学课外补习收费太高，学校还强制学生订购教辅资料。", "教育文体"),
    ("附近化工厂晚上偷偷排放废气，气味刺鼻，河里的水也被污染发黑了。", "环境保护"),
    ("这条公交线路班次太少，等车要一个小时，希望增加公交车班次。", "交通运输"),
]


def test_suggest_category(api):
    op = user_token(api, "operator")
    for text, expected in SENTENCES:
        res = api.post("/api/analysis/suggest-category", json={"text": text}, headers=auth(op))
        assert res.status_code == 200, res.text
        sug = res.json()["suggestions"]
        assert len(sug) == 3 and sug[0]["category"] == expected, sug
        assert 1 >= sug[0]["score"] >= sug[1]["score"] >= sug[2]["score"] >= 0
        assert all(s["category"] in classify.model().classes for s in sug)


def test_shipped_model_has_no_text():
    """The shipped model holds counts over a vocabulary of words seen in two or more messages."""
    assert classify.MODEL_FILE.exists()
    m = classify.model().model
    assert set(m["classes"]) == {c for c in m["counts"]}
    assert min(m["df"].values()) >= classify.MIN_DF


def at(day: float) -> datetime:
    return datetime(2026, 3, 2, 9) + timedelta(days=day)


def test_rule_needs_place_time_and_text():
    lat, lon = 33.35, 120.15
    text = "小区门口的路灯坏了一个月，晚上漆黑一片，老人孩子出行不安全，请修路灯"
    items = [
        hotspots.Item(1, text, at(0), "V1", "T1", lat, lon),
        hotspots.Item(2, text + "。", at(3), "V2", "T1", *offset(lat, lon, 600, 0)),  # other village, 600 m
        hotspots.Item(3, "路灯坏了" + text, at(10), None, None, *offset(lat, lon, 0, 900)),  # 900 m
        hotspots.Item(4, text, at(2), None, None, *offset(lat, lon, 0, 2500)),  # too far
        hotspots.Item(5, text, at(40), "V1", "T1", lat, lon),  # too late
        hotspots.Item(6, "养老保险缴费年限怎么查询", at(1), "V1", "T1", lat, lon),  # other text
        hotspots.Item(7, text, at(1), "V9", "T9", None, None),  # no point, other village
        hotspots.Item(8, text, at(45), "V1", "T1", None, None),  # same village as 5, no point
    ]
    groups = hotspots.cluster(items)
    ids = sorted(sorted(items[i].id for i in g) for g in groups)
    assert [1, 2, 3] in ids and [5, 8] in ids
    assert all([k] in ids for k in (4, 6, 7))
    assert len(hotspots.cluster(items, radius_m=3000)[0]) == 4  # a wider radius takes in 4
    assert len(hotspots.cluster(items, window_days=60)[0]) == 5  # a longer window takes in 5 and 8


@pytest.mark.parametrize("lat0", [33.35, 69.6])  # Yandu, and far north where a degree of longitude is short
def test_the_grid_finds_every_near_pair_without_comparing_all(lat0):
    """``near_pairs`` (what clustering computes a cosine for) holds every pair the place rule accepts."""
    import random

    rng = random.Random(7)
    items = []
    for k in range(400):  # 3 km across, cells of 500 m: many pairs fall across cell edges
        located = rng.random() < 0.8
        lat, lon = offset(lat0, 120.15, rng.uniform(0, 3000), rng.uniform(0, 3000)) if located else (None, None)
        village = rng.choice(["V1", "V2", "V3", None, None])
        items.append(hotspots.Item(k, "", at(0), village, None, lat, lon))
    pairs = list(hotspots.near_pairs(items, 500))
    assert len(pairs) == len(set(pairs)) and all(i < j for i, j in pairs)
    n = len(items)
    near = {(i, j) for i in range(n) for j in range(i + 1, n) if hotspots.near(items[i], items[j], 500)}
    assert near <= set(pairs)
    assert len(pairs) < n * (n - 1) / 4  # and far from all pairs


def test_incremental_detection_finds_exactly_the_groups_of_clustering_from_nothing():
    """Cases arrive, close, leave the window and are edited (moved, reworded); after every step the index,
    which compares only what is new, groups exactly as ``cluster`` over the same cases does, and it compares
    far fewer pairs than clustering each step from nothing would."""
    import random

    rng = random.Random(11)
    idf = classify.background_idf()
    texts = [*DRAIN, *OTHER_HERE, *DRAIN_FAR, "路灯坏了，晚上很黑", "路灯不亮，晚上出行不安全，请修路灯"]
    villages = ["V1", "V2", "V3", "V4", None]
    lat0, lon0 = 33.35, 120.15
    index = hotspots.Index(idf)
    held: list[hotspots.Item] = []
    next_id, linked, from_nothing = 1, 0, 0

    def new_item(k: int, day: float) -> hotspots.Item:
        located = rng.random() < 0.8
        lat, lon = offset(lat0, lon0, rng.uniform(0, 2500), rng.uniform(0, 2500)) if located else (None, None)
        return hotspots.Item(k, rng.choice(texts), at(day), rng.choice(villages), "T1", lat, lon)

    for step in range(40):
        for _ in range(rng.randrange(1, 12)):  # new cases
            held.append(new_item(next_id, step * 0.7 + rng.random()))
            next_id += 1
        for _ in range(rng.randrange(0, 4)):  # closed ones leave
            if held:
                held.pop(rng.randrange(len(held)))
        if held and rng.random() < 0.5:  # an operator corrects the place, or the resident adds to the text
            i = rng.randrange(len(held))
            old = held[i]
            held[i] = hotspots.Item(old.id, old.text + "。", old.at, rng.choice(villages), "T1", old.lat, old.lon)
        if step == 30:  # a case far north: the grid's cells widen
            held.append(hotspots.Item(next_id, DRAIN[0], at(step * 0.7), None, None, 60.0, 120.0))
            next_id += 1
        window = sorted(held, key=lambda it: (it.at, it.id))[-60:]  # the newest, oldest first, as detection reads
        fresh = [hotspots.Item(it.id, it.text, it.at, it.village_code, it.town_code, it.lat, it.lon) for it in window]
        expected = hotspots.cluster(fresh, idf=idf)
        got = index.sync(window)
        assert got == expected, step
        assert [it.vector for it in window] == [it.vector for it in fresh]
        linked += sum(len(g) for g in got if len(g) > 1)
        from_nothing += sum(1 for _ in hotspots.near_pairs(fresh, hotspots.DEFAULT_RADIUS_M))
    assert linked > 100  # the steps did form groups
    assert index.compared < from_nothing / 4  # clustering each step from nothing compares every near pair


@pytest.mark.skipif(not (SHARED_DATA / "messages").exists(), reason="../shared/data is absent")
def test_evaluation_on_shared_messages():
    """A quick run of bench/eval_analysis.py: the named groups plus 400 other messages as distractors."""
    spec = importlib.util.spec_from_file_location("eval_analysis", ROOT / "bench" / "eval_analysis.py")
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)
    result = ev.evaluate_hotspots(distractors=400, thresholds=(hotspots.DEFAULT_THRESHOLD,), workers=1)
    assert {"丽发新城", "伊景园滨河苑", "58车贷"} <= set(result["groups"])
    text_only = next(r for r in result["rows"] if r["window_days"] is None)
    assert text_only["precision"] > 0.72, text_only
    assert text_only["recall"] > 0.40, text_only
