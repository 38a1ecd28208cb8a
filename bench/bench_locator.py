"""Latency of the locator's nearest-member claim on real Redis, from 1,000 to 100,000 members.

For each population size N the script builds N synthetic members over 盐都区 with a fixed seed, rebuilds the
Redis GEO sets, then times ``Locator.claim`` for random cases near random villages, releasing every claimed
member at once so the population stays the same throughout. It measures:

- client-side latency: ``time.perf_counter_ns`` around ``Locator.claim`` (redis-py, EVALSHA, the loopback
  round trip and reply parsing included);
- server-side latency: the execution time Redis itself records for each claim EVALSHA (``SLOWLOG`` with
  ``slowlog-log-slower-than 0`` for that phase only; the previous settings are restored);
- correctness: a sample of claims compared with a brute-force Python haversine over all members applying
  the same rule (town set first, then district; radius; duty; load < capacity; category prefix; exclusions;
  ties by lower id). Any disagreement makes the exit status 1.

It uses Redis database 14 by default and flushes it at start and end: never point it at a database holding
data you want to keep.

    .venv/bin/python bench/bench_locator.py [--redis-url redis://127.0.0.1:6379/14]
        [--sizes 1000,10000,100000] [--claims 5000] [--server-claims 1000] [--verify 200]
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import platform
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from redis import Redis

from dispatch.cases import taxonomy
from dispatch.dispatching import locator
from dispatch.dispatching.locator import Claim, Locator, MemberState
from dispatch.geo import EARTH_RADIUS_M, haversine_m
from dispatch.regions.reference import load_reference

SEED = 320903
RADIUS_M = 5000.0  # settings.dispatch_radius_km default
MEMBER_SPREAD_M = 3000.0  # members live within this distance of a village
CASE_SPREAD_M = 2000.0  # cases happen within this distance of a village
WARMUP = 200
CLIENT_NAME = "sl-bench-locator"


# --------------------------------------------------------------------------- synthetic data


@dataclass(frozen=True)
class Case:
    lat: float
    lon: float
    town_code: str | None
    category: str | None
    excluded: tuple[int, ...]


def _around(lat: float, lon: float, radius_m: float, rng: random.Random) -> tuple[float, float]:
    """A uniform random point in the disc of ``radius_m`` around ``(lat, lon)``."""
    r = radius_m * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / EARTH_RADIUS_M
    dlon = r * math.sin(theta) / (EARTH_RADIUS_M * math.cos(math.radians(lat)))
    return lat + math.degrees(dlat), lon + math.degrees(dlon)


def _full_paths() -> list[str]:
    """Every three-level path of the taxonomy CSV, e.g. 城乡建设/安全生产/事故处理."""
    path = Path(taxonomy.__file__).parent / "data" / "taxonomy.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return sorted(
            {"/".join(row[k].strip() for k in ("一级分类", "二级分类", "三级分类")) for row in csv.DictReader(fh)}
        )


def make_members(n: int, rng: random.Random, villages: list[dict], tops: list[str]) -> list[MemberState]:
    members = []
    for member_id in range(1, n + 1):
        v = rng.choice(villages)
        lat, lon = _around(v["lat"], v["lon"], MEMBER_SPREAD_M, rng)
        roll = rng.random()
        level = "district" if roll < 0.10 else "town" if roll < 0.40 else "village"
        capacity = rng.randint(1, 5)
        load = rng.randint(0, capacity) if rng.random() < 0.25 else 0  # ~7 % start at full capacity
        categories = sorted(rng.sample(tops, rng.randint(1, 3))) if rng.random() < 0.5 else []
        members.append(
            MemberState(
                id=member_id,
                lat=lat,
                lon=lon,
                capacity=capacity,
                load=load,
                categories=categories,
                on_duty=rng.random() < 0.85,
                level=level,
                town_code=None if level == "district" else v["parent_code"],
            )
        )
    return members


def make_case(rng: random.Random, villages: list[dict], tops: list[str], paths: list[str], n: int) -> Case:
    v = rng.choice(villages)
    lat, lon = _around(v["lat"], v["lon"], CASE_SPREAD_M, rng)
    town = v["parent_code"] if rng.random() < 0.95 else None  # a few cases could not be placed in a town
    roll = rng.random()
    category = rng.choice(paths) if roll < 0.45 else rng.choice(tops) if roll < 0.90 else None
    excluded = tuple(rng.sample(range(1, n + 1), rng.randint(1, 3))) if rng.random() < 0.2 else ()
    return Case(lat, lon, town, category, excluded)


# --------------------------------------------------------------------------- reference implementation


def _takes(member_categories: list[str], category: str | None) -> bool:
    if not category or not member_categories:
        return True
    return any(category == c or category.startswith(c + "/") for c in member_categories)


class BruteForce:
    """The claim rule in plain Python over every member (no index, no Redis)."""

    def __init__(self, members: list[MemberState]) -> None:
        self.by_town: dict[str, list[MemberState]] = defaultdict(list)
        self.district: list[MemberState] = []
        for m in members:
            if m.lat is None or m.lon is None or not m.on_duty or m.load >= m.capacity:
                continue
            if m.level == "district":
                self.district.append(m)
            elif m.town_code:
                self.by_town[m.town_code].append(m)

    def pick(self, case: Case, radius_m: float) -> tuple[int, float] | None:
        groups = ([self.by_town.get(case.town_code, [])] if case.town_code else []) + [self.district]
        # a generous box around the case only to skip far members quickly; the decision is the haversine's
        box_lat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01 + 1e-6
        box_lon = box_lat / math.cos(math.radians(abs(case.lat) + box_lat))
        excluded = set(case.excluded)
        for group in groups:
            best: tuple[float, int] | None = None
            for m in group:
                if abs(m.lat - case.lat) > box_lat or abs(m.lon - case.lon) > box_lon:
                    continue
                if m.id in excluded or not _takes(m.categories, case.category):
                    continue
                d = haversine_m(case.lat, case.lon, m.lat, m.lon)
                if d <= radius_m and (best is None or (d, m.id) < best):
                    best = (d, m.id)
            if best is not None:
                return best[1], best[0]
        return None


# --------------------------------------------------------------------------- experimental claim variant

# --------------------------------------------------------------------------- measurements


def _claim(loc: Locator, case: Case) -> Claim | None:
    return loc.claim(case.lat, case.lon, case.town_code, case.category, RADIUS_M, list(case.excluded))


def _pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


def client_side(loc: Locator, cases: list[Case]) -> tuple[list[float], list[float], int]:
    """Per-claim and per-release latencies in µs, and how many claims found someone."""
    claim_us: list[float] = []
    release_us: list[float] = []
    hits = 0
    for i, case in enumerate(cases):
        t0 = time.perf_counter_ns()
        got = _claim(loc, case)
        t1 = time.perf_counter_ns()
        if got is not None:
            loc.release(got.member_id)
            t2 = time.perf_counter_ns()
        if i < WARMUP:
            continue
        claim_us.append((t1 - t0) / 1000)
        if got is not None:
            hits += 1
            release_us.append((t2 - t1) / 1000)
    return claim_us, release_us, hits


def _text(value: bytes | str | None) -> str:
    """SLOWLOG fields come back as bytes even with decode_responses=True."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


def server_side(r: Redis, loc: Locator, cases: list[Case]) -> list[float]:
    """Redis's own execution time (µs) of each claim EVALSHA, read from SLOWLOG in chunks."""
    sha = loc._claim.sha
    old = r.config_get("slowlog-*")
    chunk = 400  # 2 entries per case (claim + release) stay well under slowlog-max-len
    durations: list[float] = []
    try:
        r.config_set("slowlog-max-len", 10000)
        r.config_set("slowlog-log-slower-than", 0)
        for start in range(0, len(cases), chunk):
            r.slowlog_reset()
            for case in cases[start : start + chunk]:
                got = _claim(loc, case)
                if got is not None:
                    loc.release(got.member_id)
            for entry in r.slowlog_get(10000):
                cmd, name = _text(entry["command"]), _text(entry.get("client_name"))
                if name == CLIENT_NAME and cmd.lower().startswith(f"evalsha {sha}"):
                    durations.append(float(entry["duration"]))
    finally:
        for key, value in old.items():
            r.config_set(key, value)
        r.slowlog_reset()
    return durations


def verify(loc: Locator, members: list[MemberState], cases: list[Case], rng: random.Random) -> tuple[int, list]:
    """Claims compared with the brute force; a quarter also exclude the expected winner (a declined offer)."""
    brute = BruteForce(members)
    agree, mismatches = 0, []
    for case in cases:
        expected = brute.pick(case, RADIUS_M)
        if expected is not None and rng.random() < 0.25:
            case = Case(case.lat, case.lon, case.town_code, case.category, (*case.excluded, expected[0]))
            expected = brute.pick(case, RADIUS_M)
        got = _claim(loc, case)
        if got is not None:
            loc.release(got.member_id)
        ok = (got is None and expected is None) or (
            got is not None
            and expected is not None
            and got.member_id == expected[0]
            and abs(got.distance_m - expected[1]) < 1e-3
        )
        if ok:
            agree += 1
        else:
            mismatches.append((case, got, expected))
    return agree, mismatches


def load_drift(r: Redis, members: list[MemberState]) -> int:
    """How many members' Redis load differs from the initial one after all the claims and releases."""
    pipe = r.pipeline(transaction=False)
    for m in members:
        pipe.hget(locator.PREFIX + str(m.id), "load")
    return sum(int(v or 0) != m.load for v, m in zip(pipe.execute(), members, strict=True))


# --------------------------------------------------------------------------- machine facts


def machine(r: Redis) -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = r.info("server")
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "redis": str(info.get("redis_version")),
        "python": platform.python_version(),
        "redis-py": redis.__version__,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated member counts")
    ap.add_argument("--claims", type=int, default=5000, help="timed claims per size (client side)")
    ap.add_argument("--server-claims", type=int, default=1000, help="claims per size timed from SLOWLOG")
    ap.add_argument("--verify", type=int, default=200, help="claims per size checked against the brute force")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    # named, so SLOWLOG entries can be told apart from other clients'
    r = Redis.from_url(args.redis_url, decode_responses=True, client_name=CLIENT_NAME)
    db = int(r.connection_pool.connection_kwargs.get("db", 0))
    if db == 0:
        print("refusing to FLUSHDB database 0 (the tests use it): pick another, e.g. /14", file=sys.stderr)
        return 2

    ref = load_reference()
    villages = [row for row in ref if row["level"] == "village"]
    tops = list(taxonomy.top_level())
    paths = _full_paths()

    facts = machine(r)
    print(f"# locator benchmark {datetime.now(UTC).isoformat(timespec='seconds')}")
    print("# " + "  ".join(f"{k}={v}" for k, v in facts.items()))
    print(f"# {args.redis_url}  radius={RADIUS_M:.0f} m  seed={args.seed}  {len(villages)} villages")
    header = (
        f"{'N':>8} {'rebuild s':>9} {'claims':>6} {'p50 µs':>7} {'p90 µs':>7} {'p99 µs':>7} {'max µs':>7} "
        f"{'srv p50':>7} {'srv p99':>7} {'srv µs/call':>11} {'rel p50':>7} {'hit %':>6} {'verify':>8}"
    )
    rows = []
    failed = False
    r.flushdb()
    try:
        for n in sizes:
            rng = random.Random(args.seed + n)
            members = make_members(n, rng, villages, tops)
            r.flushdb()
            loc = Locator(r)
            gc.collect()
            t0 = time.perf_counter()
            loc.rebuild(members)
            rebuild_s = time.perf_counter() - t0

            timed = [make_case(rng, villages, tops, paths, n) for _ in range(args.claims + WARMUP)]
            srv_cases = [make_case(rng, villages, tops, paths, n) for _ in range(args.server_claims)]
            check = [make_case(rng, villages, tops, paths, n) for _ in range(args.verify)]

            gc.collect()
            gc.freeze()  # the member list is long-lived: keep collections from rescanning it while timing
            claim_us, release_us, hits = client_side(loc, timed)
            srv_us = server_side(r, loc, srv_cases)
            gc.unfreeze()
            agree, mismatches = verify(loc, members, check, rng)
            drifted = load_drift(r, members)

            claim_us.sort()
            release_us.sort()
            srv_us.sort()
            ok = agree == len(check) and drifted == 0
            failed |= not ok
            row = (
                f"{n:>8,} {rebuild_s:>9.2f} {len(claim_us):>6} {_pct(claim_us, 50):>7.0f} {_pct(claim_us, 90):>7.0f} "
                f"{_pct(claim_us, 99):>7.0f} {claim_us[-1]:>7.0f} {_pct(srv_us, 50):>7.0f} {_pct(srv_us, 99):>7.0f} "
                f"{(sum(srv_us) / len(srv_us) if srv_us else float('nan')):>11.1f} {_pct(release_us, 50):>7.0f} "
                f"{100 * hits / max(1, len(claim_us)):>6.1f} {agree:>4}/{len(check):<3}"
            )
            if not rows:
                print(header)
            rows.append(row)
            print(row, flush=True)
            for case, got, expected in mismatches[:10]:
                print(f"  MISMATCH {case} redis={got} brute={expected}", file=sys.stderr)
            if drifted:
                print(f"  {drifted} members' load differs from the start after claim + release", file=sys.stderr)
            del members, timed, srv_cases, check
    finally:
        r.flushdb()

    print()
    print(header)
    print("\n".join(rows))
    print(
        "\nclient: perf_counter_ns around Locator.claim (redis-py round trip); srv: Redis execution time per "
        "claim EVALSHA from SLOWLOG; rel: Locator.release round trip; verify: agreement with brute force"
    )
    print(f"loadavg at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        print("FAIL: the locator disagreed with the brute force (or loads drifted)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
