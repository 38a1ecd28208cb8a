"""Reference geography of 盐都区 (Yandu district, Yancheng): official codes plus synthetic positions.

Codes and names are real (NBS 2023, see ``data/README.md``); the district boundary is real. Town and
village coordinates are NOT real: no public source has them, so they are placed here inside the district
polygon with a fixed seed, the same on every run and machine.
"""

from __future__ import annotations

import csv
import json
import math
import random
from functools import lru_cache
from pathlib import Path

from dispatch.geo import EARTH_RADIUS_M, haversine_m

DISTRICT_CODE = "320903"
DISTRICT_NAME = "盐都区"

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 320903
LOCATE_RADIUS_M = 2000.0  # outside the polygon, a point this close to a village still belongs to it

_N_CANDIDATES = 1500  # seeded points inside the polygon from which town centres are chosen
_LLOYD_ROUNDS = 6
_VILLAGE_RADIUS_M = 4000.0
_VILLAGE_SPACING_M = 600.0  # minimum distance between two villages
_TOWN_MARGIN_M = 100.0  # a village is at least this much closer to its own town centre than to others
_CELL_M = 1000.0  # locate() grid cell size

_TOWN_SUFFIXES = ("街道办事处", "街道", "镇")
_VILLAGE_SUFFIXES = ("社区居委会", "居民委员会", "村民委员会", "居委会", "村委会")
# after a bare village stem these mean another place or a road of the same name
_NOT_A_VILLAGE_AFTER = ("省", "市", "区", "县", "旗", "镇", "乡", "路", "街", "大道", "公路", "高速")


# --------------------------------------------------------------------------- raw data


def _read_csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=1)
def district_polygon() -> list:
    """The district boundary as GeoJSON MultiPolygon coordinates (``[lon, lat]``); do not mutate."""
    with (DATA_DIR / "district.geojson").open(encoding="utf-8") as f:
        geometry = json.load(f)["geometry"]
    coords = geometry["coordinates"]
    return [coords] if geometry["type"] == "Polygon" else coords


@lru_cache(maxsize=1)
def district_centre() -> tuple[float, float]:
    """Area centroid ``(lat, lon)`` of the district's largest outer ring (rounded to 6 decimals)."""
    ring = max((poly[0] for poly in district_polygon()), key=lambda r: abs(_ring_area(r)))
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return round(cy / (3 * a), 6), round(cx / (3 * a), 6)


def _ring_area(ring: list) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True)) / 2


class _BandedPolygon:
    """Even-odd point-in-polygon with edges bucketed by latitude band: a handful of edges per test."""

    def __init__(self, multipolygon: list, bands: int = 64) -> None:
        edges = []
        for poly in multipolygon:
            for ring in poly:
                for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
                    if y0 != y1:
                        edges.append((x0, y0, x1, y1))
        self.lat0 = min(min(e[1], e[3]) for e in edges)
        self.lat1 = max(max(e[1], e[3]) for e in edges)
        self.lon0 = min(min(e[0], e[2]) for e in edges)
        self.lon1 = max(max(e[0], e[2]) for e in edges)
        self.step = (self.lat1 - self.lat0) / bands
        self.bands: list[list[tuple[float, float, float, float]]] = [[] for _ in range(bands)]
        for e in edges:
            lo = int((min(e[1], e[3]) - self.lat0) / self.step)
            hi = int((max(e[1], e[3]) - self.lat0) / self.step)
            for k in range(max(lo, 0), min(hi, bands - 1) + 1):
                self.bands[k].append(e)

    def __contains__(self, latlon: tuple[float, float]) -> bool:
        lat, lon = latlon
        if not (self.lat0 <= lat <= self.lat1 and self.lon0 <= lon <= self.lon1):
            return False
        inside = False
        for x0, y0, x1, y1 in self.bands[min(int((lat - self.lat0) / self.step), len(self.bands) - 1)]:
            if (y0 > lat) != (y1 > lat) and lon < (x1 - x0) * (lat - y0) / (y1 - y0) + x0:
                inside = not inside
        return inside


@lru_cache(maxsize=1)
def _banded() -> _BandedPolygon:
    return _BandedPolygon(district_polygon())


def _inside(lat: float, lon: float) -> bool:
    return (lat, lon) in _banded()


def inside_district(lat: float, lon: float) -> bool:
    """Whether a WGS-84 point is inside the district polygon (a fast ``point_in_polygon``)."""
    return _inside(lat, lon)


# --------------------------------------------------------------------------- local projection


class _Plane:
    """Equirectangular metres around the district centre (error ~0.1 % over the district)."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.ky = math.pi / 180 * EARTH_RADIUS_M
        self.kx = self.ky * math.cos(math.radians(lat0))

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.lat0 + y / self.ky, self.lon0 + x / self.kx


@lru_cache(maxsize=1)
def _plane() -> _Plane:
    return _Plane(*district_centre())


# --------------------------------------------------------------------------- placement


def _town_centres(n: int, rng: random.Random) -> list[tuple[float, float]]:
    """``n`` spread points in the polygon: farthest-point seeding, Lloyd rounds, snapped to candidates."""
    plane, poly = _plane(), _banded()
    cands: list[tuple[float, float]] = []
    while len(cands) < _N_CANDIDATES:
        lat, lon = rng.uniform(poly.lat0, poly.lat1), rng.uniform(poly.lon0, poly.lon1)
        if (lat, lon) in poly:
            cands.append(plane.xy(lat, lon))

    def nearest_centre(x: float, y: float, centres: list[tuple[float, float]]) -> int:
        best, best_k = math.inf, 0
        for k, (cx, cy) in enumerate(centres):
            d = (x - cx) ** 2 + (y - cy) ** 2
            if d < best:
                best, best_k = d, k
        return best_k

    # farthest-point sampling, starting from the candidate nearest the centroid
    centres = [cands[nearest_centre(0.0, 0.0, cands)]]
    gap = [(x - centres[0][0]) ** 2 + (y - centres[0][1]) ** 2 for x, y in cands]
    while len(centres) < n:
        fx, fy = cands[max(range(len(cands)), key=gap.__getitem__)]
        centres.append((fx, fy))
        gap = [min(g, (x - fx) ** 2 + (y - fy) ** 2) for g, (x, y) in zip(gap, cands, strict=True)]
    # Lloyd relaxation on the candidate cloud pulls centres off the boundary and evens the cells out
    for _ in range(_LLOYD_ROUNDS):
        sums = [[0.0, 0.0, 0] for _ in centres]
        for x, y in cands:
            s = sums[nearest_centre(x, y, centres)]
            s[0] += x
            s[1] += y
            s[2] += 1
        centres = [(s[0] / s[2], s[1] / s[2]) if s[2] else c for s, c in zip(sums, centres, strict=True)]
    centres = [cands[nearest_centre(cx, cy, cands)] for cx, cy in centres]  # snap: guaranteed inside
    # stable order: east to west (the urban 街道, listed first, sit nearest Yancheng city in the east)
    centres.sort(key=lambda c: (-c[0], -c[1]))
    return [_round(*plane.latlon(*c)) for c in centres]


def _round(lat: float, lon: float) -> tuple[float, float]:
    return round(lat, 6), round(lon, 6)


def _place_villages(
    villages: list[dict[str, str]], towns: dict[str, tuple[float, float]], rng: random.Random
) -> dict[str, tuple[float, float]]:
    """Scatter villages around their town centre: inside the polygon, spaced, in their town's Voronoi cell."""
    plane, poly = _plane(), _banded()
    town_xy = {code: plane.xy(*c) for code, c in towns.items()}
    placed: dict[str, tuple[float, float]] = {}
    grid: dict[tuple[int, int], list[tuple[float, float]]] = {}  # spacing check, cells of _VILLAGE_SPACING_M
    for v in villages:
        ox, oy = town_xy[v["streetCode"]]
        others = [c for code, c in town_xy.items() if code != v["streetCode"]]
        radius, spacing = _VILLAGE_RADIUS_M, _VILLAGE_SPACING_M
        for attempt in range(10_000):
            if attempt and attempt % 300 == 0:  # crowded or clipped cell: widen and loosen
                radius *= 1.25
                spacing *= 0.8
            r = radius * math.sqrt(rng.random())
            t = 2 * math.pi * rng.random()
            lat, lon = _round(*plane.latlon(ox + r * math.cos(t), oy + r * math.sin(t)))
            if (lat, lon) not in poly:
                continue
            x, y = plane.xy(lat, lon)
            own = math.hypot(x - ox, y - oy) + _TOWN_MARGIN_M
            if any(math.hypot(x - cx, y - cy) < own for cx, cy in others):
                continue
            gx, gy = int(x // _VILLAGE_SPACING_M), int(y // _VILLAGE_SPACING_M)
            near = (p for i in (-1, 0, 1) for j in (-1, 0, 1) for p in grid.get((gx + i, gy + j), ()))
            if any(math.hypot(x - px, y - py) < spacing for px, py in near):
                continue
            grid.setdefault((gx, gy), []).append((x, y))
            placed[v["code"]] = (lat, lon)
            break
        else:  # pragma: no cover - cannot happen with the shipped data
            raise RuntimeError(f"could not place village {v['code']}")
    return placed


@lru_cache(maxsize=1)
def _reference() -> tuple[dict, ...]:
    rng = random.Random(SEED)
    streets = _read_csv("streets.csv")
    villages = _read_csv("villages.csv")
    centres = _town_centres(len(streets), rng)
    towns = {s["code"]: c for s, c in zip(sorted(streets, key=lambda s: s["code"]), centres, strict=True)}
    spots = _place_villages(sorted(villages, key=lambda v: v["code"]), towns, rng)
    lat, lon = district_centre()
    rows = [dict(code=DISTRICT_CODE, name=DISTRICT_NAME, level="district", parent_code=None, lat=lat, lon=lon)]
    for s in streets:
        lat, lon = towns[s["code"]]
        rows.append(dict(code=s["code"], name=s["name"], level="town", parent_code=DISTRICT_CODE, lat=lat, lon=lon))
    for v in villages:
        lat, lon = spots[v["code"]]
        rows.append(
            dict(code=v["code"], name=v["name"], level="village", parent_code=v["streetCode"], lat=lat, lon=lon)
        )
    return tuple(rows)


def load_reference() -> list[dict]:
    """The district, its 16 towns and 269 villages as dicts ``code, name, level, parent_code, lat, lon``.

    ``level`` is ``district|town|village``; positions are synthetic but deterministic and inside the
    district polygon. Each call returns fresh dicts (the computation itself is cached).
    """
    return [dict(r) for r in _reference()]


@lru_cache(maxsize=1)
def _by_code() -> dict[str, dict]:
    return {r["code"]: r for r in _reference()}


def by_code(code: str) -> dict | None:
    """The reference row (a fresh dict) of a district, town or village code, or ``None`` if unknown."""
    row = _by_code().get(code)
    return dict(row) if row is not None else None


# --------------------------------------------------------------------------- locate


class _VillageIndex:
    """Grid of 1 km cells, each lazily holding the villages that can be nearest to any point in it."""

    def __init__(self, rows: tuple[dict, ...]) -> None:
        self.plane = _plane()
        self.villages = [(r["lat"], r["lon"], r["parent_code"], r["code"]) for r in rows if r["level"] == "village"]
        self.xy = [self.plane.xy(v[0], v[1]) for v in self.villages]
        lons = [p[0] for poly in district_polygon() for p in poly[0]]
        lats = [p[1] for poly in district_polygon() for p in poly[0]]
        margin = LOCATE_RADIUS_M * 1.5
        x0, y0 = self.plane.xy(min(lats), min(lons))
        x1, y1 = self.plane.xy(max(lats), max(lons))
        self.x0, self.y0, self.x1, self.y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
        self.cells: dict[tuple[int, int], tuple[int, ...]] = {}

    def _cell(self, key: tuple[int, int]) -> tuple[int, ...]:
        cx, cy = self.x0 + (key[0] + 0.5) * _CELL_M, self.y0 + (key[1] + 0.5) * _CELL_M
        dist = [math.hypot(x - cx, y - cy) for x, y in self.xy]
        # any point of the cell is within half a diagonal of its centre; 1 % + 50 m covers projection error
        limit = (min(dist) + _CELL_M * math.sqrt(2)) * 1.01 + 50.0
        cands = tuple(i for i, d in enumerate(dist) if d <= limit)
        self.cells[key] = cands
        return cands

    def nearest(self, lat: float, lon: float) -> tuple[float, int] | None:
        x, y = self.plane.xy(lat, lon)
        if not (self.x0 <= x < self.x1 and self.y0 <= y < self.y1):
            return None
        key = (int((x - self.x0) // _CELL_M), int((y - self.y0) // _CELL_M))
        cands = self.cells.get(key) or self._cell(key)
        best_d, best_i = math.inf, -1
        for i in cands:
            v = self.villages[i]
            d = haversine_m(lat, lon, v[0], v[1])
            if d < best_d:
                best_d, best_i = d, i
        return best_d, best_i


@lru_cache(maxsize=1)
def _index() -> _VillageIndex:
    return _VillageIndex(_reference())


def locate(lat: float, lon: float) -> tuple[str | None, str | None]:
    """``(town_code, village_code)`` of the nearest village, or ``(None, None)`` outside the district.

    A point counts as in the district when it is inside the polygon or within 2 km of a village.
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None, None
    index = _index()
    found = index.nearest(lat, lon)
    if found is None:
        return None, None
    d, i = found
    if d > LOCATE_RADIUS_M and not _inside(lat, lon):
        return None, None
    _, _, town, village = index.villages[i]
    return town, village


# --------------------------------------------------------------------------- match_address


def _strip(name: str, suffixes: tuple[str, ...]) -> tuple[str, str]:
    for s in suffixes:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)], s
    return name, ""


@lru_cache(maxsize=1)
def _aliases() -> tuple[dict[str, tuple[str, frozenset[str], bool]], int]:
    """Alias → (kind, codes, explicit) and the longest alias length.

    ``kind`` is ``town``, ``village`` or ``district`` (the latter only blocks its span); ``explicit`` is
    false for a bare stem such as ``东徐``, which is weaker evidence than ``东徐社区``.
    """
    table: dict[str, tuple[str, set[str], bool]] = {}

    def add(alias: str, kind: str, code: str, explicit: bool = True) -> None:
        if len(alias) < 2:
            return
        old = table.get(alias)
        if old is None or (kind == "town" and old[0] != "town"):  # a town name wins over anything else
            table[alias] = (kind, {code}, explicit)
        elif old[0] == kind:
            old[1].add(code)
            table[alias] = (kind, old[1], old[2] or explicit)

    for alias in (DISTRICT_NAME, DISTRICT_NAME[:-1], "盐城市"):
        add(alias, "district", DISTRICT_CODE)
    for r in _reference():
        name, code = r["name"], r["code"]
        if r["level"] == "town":
            stem, suffix = _strip(name, _TOWN_SUFFIXES)
            names = {name, stem}
            if suffix in ("街道", "街道办事处"):
                names |= {stem + "街道", stem + "街道办事处", stem + "街道办"}
            elif suffix == "镇":
                names |= {stem + "镇人民政府"}
            elif name.endswith("旅游度假区"):
                names |= {name[: -len("旅游度假区")] + "度假区"}
            for alias in names:
                add(alias, "town", code)
        elif r["level"] == "village":
            stem, suffix = _strip(name, _VILLAGE_SUFFIXES)
            names = {name}
            if suffix in ("村委会", "村民委员会"):
                names |= {stem + "村", stem + "村委会", stem + "村民委员会"}
            elif suffix:
                names |= {stem + "社区", stem + "居委会", stem + "社区居委会", stem + "居民委员会"}
            for alias in sorted(names):
                add(alias, "village", code)
            add(stem, "village", code, explicit=False)
    frozen = {a: (kind, frozenset(codes), explicit) for a, (kind, codes, explicit) in table.items()}
    return frozen, max(map(len, frozen))


@lru_cache(maxsize=1)
def _village_town() -> dict[str, str]:
    return {r["code"]: r["parent_code"] for r in _reference() if r["level"] == "village"}


def match_address(text: str) -> tuple[str | None, str | None]:
    """``(town_code, village_code)`` named in a free-text Chinese address, each ``None`` when not found.

    Full names and names without their suffix (``东徐``, ``东徐社区``, ``杨侍村``) are recognised; matches
    may not overlap and longer ones win. A village name shared by several towns is resolved by the town
    named in the text; with no town named it yields ``(None, None)``. When only a village is found its town
    is returned with it. A village that is not in the named town is ignored when matched by its bare stem
    (``杨侍`` could be a surname) but wins, with its own town, when written in full (``东徐居委会``). A bare
    stem followed by 市/区/县/镇/路/街… (``朝阳区``, ``先锋路``) is taken as another place, not the village.
    """
    if not isinstance(text, str):
        return None, None
    text = "".join(text.split())
    table, longest = _aliases()
    hits: list[tuple[int, int, str, frozenset[str], bool]] = []
    for i in range(len(text) - 1):
        for n in range(2, min(longest, len(text) - i) + 1):
            hit = table.get(text[i : i + n])
            if hit is None:
                continue
            kind, codes, explicit = hit
            if kind == "village" and not explicit and text.startswith(_NOT_A_VILLAGE_AFTER, i + n):
                kind = "blocked"  # 朝阳区, 先锋路: a district or road of that name, not the village
            hits.append((i, n, kind, codes, explicit))
    hits.sort(key=lambda h: (-h[1], h[0]))
    taken: list[tuple[int, int]] = []
    town: str | None = None
    villages: list[tuple[frozenset[str], bool]] = []
    for i, n, kind, codes, explicit in hits:
        if any(i < b and a < i + n for a, b in taken):
            continue
        taken.append((i, i + n))
        if kind == "town" and town is None:
            town = next(iter(codes))
        elif kind == "village":
            villages.append((codes, explicit))
    parent = _village_town()
    if town is None:
        if not villages or len(villages[0][0]) > 1:
            return None, None  # nothing found, or the best village name is ambiguous across towns
        (code,) = villages[0][0]
        return parent[code], code
    for codes, _ in villages:
        fits = [c for c in codes if parent[c] == town]
        if len(fits) == 1:
            return town, fits[0]
    for codes, explicit in villages:
        if explicit and len(codes) == 1:
            (code,) = codes
            return parent[code], code
    return town, None
