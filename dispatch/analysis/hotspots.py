"""Hotspots (研判): clusters of similar cases in one place and time window.

Two cases are linked when all three hold:

- place: the same village, or both located and at most ``radius_m`` apart (haversine);
- time: received at most ``window_days`` apart;
- text: TF-IDF cosine over jieba tokens of at least ``threshold``.

Clusters are the connected components of that graph (single link); those of ``min_size`` cases or more are
hotspots. Each is offered as a consultation topic candidate with a suggested title.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dispatch.analysis import text as tx
from dispatch.geo import EARTH_RADIUS_M, haversine_m

DEFAULT_RADIUS_M = 1000.0
DEFAULT_WINDOW_DAYS = 14.0
DEFAULT_THRESHOLD = 0.30
DEFAULT_MIN_SIZE = 3


@dataclass
class Item:
    """What clustering needs of a case (or of a message in the evaluation)."""

    id: int
    text: str
    at: datetime
    village_code: str | None = None
    town_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    vector: dict[str, float] = field(default_factory=dict)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


def near(a: Item, b: Item, radius_m: float) -> bool:
    if a.village_code and a.village_code == b.village_code:
        return True
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return False
    return haversine_m(a.lat, a.lon, b.lat, b.lon) <= radius_m


def near_pairs(items: Sequence[Item], radius_m: float) -> Iterator[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, that can pass ``near``: the same village, or both located in the same
    or neighbouring cells of a grid whose cells are at least ``radius_m`` wide. A superset of the near pairs,
    found without comparing all pairs (a district's cases spread over hundreds of villages)."""
    villages: dict[str, list[int]] = {}
    cells: dict[tuple[int, int], list[int]] = {}
    located = [it.lat for it in items if it.lat is not None and it.lon is not None]
    # haversine >= R·|Δφ|, and >= R·cos(φmax)·|Δλ| up to a factor 1 - Δλ²/24 that the 1 % margin covers
    lat_step = math.degrees(radius_m / EARTH_RADIUS_M)
    lon_step = 1.01 * lat_step / max(math.cos(math.radians(max(map(abs, located), default=0.0))), 1e-6)
    cell_of: list[tuple[int, int] | None] = []
    for i, it in enumerate(items):
        if it.village_code:
            villages.setdefault(it.village_code, []).append(i)
        cell = None
        if it.lat is not None and it.lon is not None:
            cell = (math.floor(it.lat / lat_step), math.floor(it.lon / lon_step))
            cells.setdefault(cell, []).append(i)
        cell_of.append(cell)
    for i, it in enumerate(items):
        seen = {j for j in villages.get(it.village_code, ()) if j > i} if it.village_code else set()
        if (cell := cell_of[i]) is not None:
            y, x = cell
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    seen.update(j for j in cells.get((y + dy, x + dx), ()) if j > i)
        for j in sorted(seen):
            yield i, j


def cluster(
    items: Sequence[Item],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    window_days: float | None = DEFAULT_WINDOW_DAYS,
    radius_m: float | None = DEFAULT_RADIUS_M,
    idf: Mapping[str, float] | None = None,
    vectors: Sequence[Mapping[str, float]] | None = None,
    pairs: Iterable[tuple[int, int, float]] | None = None,
) -> list[list[int]]:
    """Indexes of ``items`` grouped by single link; ``window_days``/``radius_m`` None switch that rule off.

    Unless ``vectors`` are given, the items' vectors are computed (TF-IDF with ``idf``, or fitted on the items
    themselves); either way they are stored on the items. ``pairs`` may be precomputed by ``similar_pairs``
    at a threshold at or below ``threshold``.
    """
    if vectors is None:
        vectors = tx.vectorize([tx.tokens(it.text) for it in items], idf)
    for it, vec in zip(items, vectors, strict=True):
        it.vector = vec if isinstance(vec, dict) else dict(vec)  # shared, not copied: 5,000 vectors are 18 MiB
    checks: list[Callable[[Item, Item], bool]] = []
    if window_days is not None:
        limit = window_days * 86400
        checks.append(lambda a, b: abs((a.at - b.at).total_seconds()) <= limit)
    if radius_m is not None:
        checks.append(lambda a, b: near(a, b, radius_m))
    if pairs is None and radius_m is not None:  # only pairs that can be near (and in the window) are worth a cosine
        window = checks[0] if window_days is not None else None
        terms = [frozenset(v) for v in vectors]
        pairs = (
            (i, j, tx.cosine(vectors[i], vectors[j], terms[i] & terms[j]))
            for i, j in near_pairs(items, radius_m)
            if window is None or window(items[i], items[j])
        )
    uf = UnionFind(len(items))
    for i, j, score in tx.similar_pairs(vectors, threshold) if pairs is None else pairs:
        if score >= threshold and all(check(items[i], items[j]) for check in checks):
            uf.union(i, j)
    return sorted(uf.groups(), key=lambda g: (-len(g), g[0]))


_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _microseconds(at: datetime) -> int:
    return (at - (_EPOCH if at.tzinfo is None else _EPOCH_UTC)) // _MICROSECOND


def _shape(it: Item) -> tuple:
    """What clustering reads of a case: when it changes, the case is clustered again."""
    return (it.text, it.at, it.village_code, it.lat, it.lon)


class Index:
    """Clustering that keeps up: ``sync(items)`` returns exactly ``cluster(items, ...)``'s groups, but only the
    cases new since the last call (or changed: text, time, place) are compared, each against the cases it can
    be near (same village, neighbouring grid cells) within the time window; the links found are kept, a case
    that left takes its links with it, and the groups are the connected components of what remains.

    The idf is fixed (the background table), so a case's vector never changes once computed; with vectors fitted
    on the cases themselves every new case would change all of them, and ``cluster`` must run instead.
    """

    def __init__(
        self,
        idf: Mapping[str, float],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window_days: float | None = DEFAULT_WINDOW_DAYS,
        radius_m: float = DEFAULT_RADIUS_M,
    ) -> None:
        self.idf, self.default_idf = idf, max(idf.values(), default=1.0)  # as ``vectorize`` with an idf
        self.threshold, self.radius_m = threshold, radius_m
        self.window_us = None if window_days is None else round(window_days * 86400 * 1_000_000)
        self.items: dict[int, Item] = {}
        self.times: dict[int, int] = {}  # received, in microseconds since 1970 (exact, unlike a float)
        self.links: dict[int, set[int]] = {}
        self.villages: dict[str, set[int]] = {}
        self.cells: dict[tuple[int, int], set[int]] = {}
        self.lat_step = math.degrees(radius_m / EARTH_RADIUS_M)
        self.max_abs_lat = -1.0  # the cells' width in longitude holds up to this latitude (see ``near_pairs``)
        self.lon_step = self.lat_step
        self.compared = 0  # cosines computed, for benchmarks

    def sync(self, items: Sequence[Item]) -> list[list[int]]:
        """Bring the index to ``items`` (the window, in ``cluster``'s order) and return its groups as indexes of
        ``items``, ordered as ``cluster`` orders them. Every item gets its vector."""
        current = {it.id: it for it in items}
        for case_id, held in list(self.items.items()):
            it = current.get(case_id)
            if it is None or _shape(it) != _shape(held):
                self._remove(case_id)
        for it in items:
            known = self.items.get(it.id)
            if known is None:
                self._add(it)
            else:
                it.vector = known.vector
                self.items[it.id] = it  # the newer row: the summary reads its town too
        position = {it.id: i for i, it in enumerate(items)}
        seen: set[int] = set()
        groups = []
        for it in items:
            if it.id in seen:
                continue
            seen.add(it.id)
            group, todo = [], [it.id]
            while todo:
                case_id = todo.pop()
                group.append(position[case_id])
                for other in self.links[case_id]:
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
            groups.append(sorted(group))
        return sorted(groups, key=lambda g: (-len(g), g[0]))

    def _cell(self, it: Item) -> tuple[int, int] | None:
        if it.lat is None or it.lon is None:
            return None
        return math.floor(it.lat / self.lat_step), math.floor(it.lon / self.lon_step)

    def _widen(self, lat: float) -> None:
        """A case further from the equator than any before: wider cells in longitude, all cases placed again."""
        self.max_abs_lat = abs(lat)
        self.lon_step = 1.01 * self.lat_step / max(math.cos(math.radians(self.max_abs_lat)), 1e-6)
        self.cells = {}
        for case_id, it in self.items.items():
            if (cell := self._cell(it)) is not None:
                self.cells.setdefault(cell, set()).add(case_id)

    def _candidates(self, it: Item) -> set[int]:
        found = set(self.villages.get(it.village_code, ())) if it.village_code else set()
        if (cell := self._cell(it)) is not None:
            y, x = cell
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    found.update(self.cells.get((y + dy, x + dx), ()))
        return found

    def _add(self, it: Item) -> None:
        if it.lat is not None and it.lon is not None and abs(it.lat) > self.max_abs_lat:
            self._widen(it.lat)
        # tokenised without the token cache: the vector is kept here, so caching 5,000 texts' tokens as well
        # would only hold memory in the detecting process
        vec = it.vector = tx.tfidf(tx.tokenize(it.text), self.idf, self.default_idf)
        at, terms = _microseconds(it.at), vec.keys()
        links: set[int] = set()
        window, times, items = self.window_us, self.times, self.items
        for other_id in self._candidates(it):
            if window is not None and abs(at - times[other_id]) > window:
                continue
            self.compared += 1
            other = items[other_id]
            # keys views, not frozensets kept beside the vectors: those cost 17 MiB for 5,000 cases
            score = tx.cosine(vec, other.vector, terms & other.vector.keys())
            if score >= self.threshold and near(it, other, self.radius_m):
                links.add(other_id)
                self.links[other_id].add(it.id)
        self.items[it.id], self.links[it.id], times[it.id] = it, links, at
        if it.village_code:
            self.villages.setdefault(it.village_code, set()).add(it.id)
        if (cell := self._cell(it)) is not None:
            self.cells.setdefault(cell, set()).add(it.id)

    def _remove(self, case_id: int) -> None:
        it = self.items.pop(case_id)
        del self.times[case_id]
        for other in self.links.pop(case_id):
            self.links[other].discard(case_id)
        if it.village_code:
            self.villages[it.village_code].discard(case_id)
        if (cell := self._cell(it)) is not None:
            self.cells[cell].discard(case_id)


def topic_title(place: str | None, keywords: Sequence[str], size: int) -> str:
    """A suggested consultation topic: "关于杨侍村“排水、积水”问题的协商（4件诉求）"."""
    words = "、".join(keywords[:2]) or "集中诉求"
    return f"关于{place or ''}“{words}”问题的协商（{size}件诉求）"
