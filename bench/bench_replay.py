"""Replay the 1,000 NYC 311 requests through the hotline channel with the demo members.

Input: ``../shared/data/nyc311/requests_1000.csv`` (relative to the repository). Coordinates are mapped
affinely from the requests' bounding box onto the district's, and a point that falls outside the district
polygon is pulled towards the district's centre until it is inside. The requests' dates span 2014-2019, so
the replay keeps each request's time of day (one synthetic day, in the order of the day) and compresses it
(100× by default: a day in 14.4 minutes). The offer timeout is compressed alike (900 s → 9 s).

Members act as a simulation in this process, through the same services the phone page calls: an offer is
accepted (80 %), declined (10 %) or left to time out (10 %) after a delay of about 5 minutes (compressed);
an accepted case is resolved after its real open time (capped by ``--max-open-h``, 24 h, compressed).

Reported: the distance of every offer and of every accepted assignment (distribution), escalations (with
their reason), offers per case, and timings (answer latency, received → first offer).

    .venv/bin/python bench/bench_replay.py [--quick] [--compress 100] [--limit 1000]

Scratch database ``sl_bench_replay`` (dropped and created) and Redis BENCH_REDIS_URL (default db 13, flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import time
from collections import Counter
from datetime import datetime

from _common import (
    SHARED_DATA,
    Http,
    app_env,
    flush_redis,
    ms,
    pct,
    prepare,
    redis_url,
    report,
    rq_worker,
    scratch_database,
    serve,
    use_env,
    versions,
)

DB_NAME = "sl_bench_replay"
CSV = SHARED_DATA / "nyc311" / "requests_1000.csv"
FMT = "%m/%d/%Y %I:%M:%S %p"


def load(limit: int, max_open_h: float) -> list[dict]:
    from dispatch.regions.reference import district_centre, district_polygon, inside_district

    rows = [r for r in csv.DictReader(CSV.open(encoding="utf-8"))][:limit]
    located = [r for r in rows if r["Latitude"] and r["Longitude"]]
    lats = [float(r["Latitude"]) for r in located]
    lons = [float(r["Longitude"]) for r in located]
    ring = [pt for poly in district_polygon() for pt in poly[0]]
    d_lon = (min(p[0] for p in ring), max(p[0] for p in ring))
    d_lat = (min(p[1] for p in ring), max(p[1] for p in ring))
    c_lat, c_lon = district_centre()
    out = []
    for r in rows:
        created = datetime.strptime(r["Created Date"], FMT)
        closed = datetime.strptime(r["Closed Date"], FMT) if r["Closed Date"] else None
        lat = lon = None
        if r["Latitude"] and r["Longitude"]:
            fy = (float(r["Latitude"]) - min(lats)) / ((max(lats) - min(lats)) or 1)
            fx = (float(r["Longitude"]) - min(lons)) / ((max(lons) - min(lons)) or 1)
            lat, lon = d_lat[0] + fy * (d_lat[1] - d_lat[0]), d_lon[0] + fx * (d_lon[1] - d_lon[0])
            t = 1.0
            while not inside_district(c_lat + t * (lat - c_lat), c_lon + t * (lon - c_lon)) and t > 0:
                t -= 0.02
            lat, lon = c_lat + t * (lat - c_lat), c_lon + t * (lon - c_lon)
        seconds = created.hour * 3600 + created.minute * 60 + created.second
        open_s = (closed - created).total_seconds() if closed and closed > created else 3600.0
        out.append(
            {
                "key": r["Unique Key"],
                "day_s": seconds,
                "open_s": min(open_s, max_open_h * 3600),
                "content": f"{r['Complaint Type']}: {r['Descriptor']}".strip(": ")[:2000] or "311",
                "lat": round(lat, 6) if lat is not None else None,
                "lon": round(lon, 6) if lon is not None else None,
            }
        )
    out.sort(key=lambda x: x["day_s"])
    return out


class Members:
    """The demo members' simulated responses, through the dispatching services (as the phone page does)."""

    def __init__(self, compress: float, seed: int = 311) -> None:
        self.compress = compress
        self.rng = random.Random(seed)
        self.planned: dict[int, tuple[float, str]] = {}  # offer id → (when, what)
        self.resolve_at: dict[int, float] = {}  # case id → when
        self.open_s: dict[int, float] = {}

    def tick(self) -> None:
        from sqlmodel import Session, select

        from dispatch.db import get_engine
        from dispatch.dispatching import service
        from dispatch.dispatching.models import Offer
        from dispatch.errors import AppError

        now = time.time()
        with Session(get_engine()) as session:
            offers = session.exec(select(Offer.id, Offer.case_id, Offer.member_id).where(Offer.state == "open")).all()
        for offer_id, case_id, member_id in offers:
            if offer_id not in self.planned:
                roll = self.rng.random()
                what = "accept" if roll < 0.8 else "decline" if roll < 0.9 else "ignore"
                delay = self.rng.expovariate(1 / 300) / self.compress
                self.planned[offer_id] = (now + delay, what)
            when, what = self.planned[offer_id]
            if what == "ignore" or when > now:
                continue
            self.planned[offer_id] = (float("inf"), "done")
            try:
                with Session(get_engine(), expire_on_commit=False) as session:
                    if what == "accept":
                        service.accept(session, case_id, member_id)
                        self.resolve_at[case_id] = now + self.open_s.get(case_id, 3600) / self.compress
                    else:
                        service.decline(session, case_id, member_id, "忙 / busy")
                    session.commit()
            except AppError:
                pass  # the offer expired meanwhile
        for case_id, when in list(self.resolve_at.items()):
            if when <= now:
                del self.resolve_at[case_id]
                try:
                    with Session(get_engine(), expire_on_commit=False) as session:
                        service.resolve(session, case_id, "已处理 / done", "bench", None)
                        session.commit()
                except AppError:
                    pass


async def replay(url: str, key: str, requests: list[dict], compress: float, members: Members) -> list[tuple]:
    host, port = url.removeprefix("http://").split(":")
    start = time.time()
    first = requests[0]["day_s"]
    answers: list[tuple] = []
    queue: asyncio.Queue = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)

    async def sender() -> None:
        client = Http(host, int(port))
        while not queue.empty():
            r = queue.get_nowait()
            due = start + (r["day_s"] - first) / compress
            await asyncio.sleep(max(0.0, due - time.time()))
            body = {"external_id": f"nyc-{r['key']}", "content": r["content"], "lat": r["lat"], "lon": r["lon"]}
            body = {k: v for k, v in body.items() if v is not None}
            t0 = time.time()
            status, data = await client.post_json("/api/intake/hotline", body, {"X-API-Key": key})
            case_id = json.loads(data).get("id") if status in (200, 201) else None
            if case_id:
                members.open_s[case_id] = r["open_s"]
            answers.append((r["key"], status, time.time() - t0, case_id))
        await client.close()

    async def simulate() -> None:
        while len(answers) < len(requests) or members.resolve_at:
            await asyncio.to_thread(members.tick)
            await asyncio.sleep(0.1)

    sim = asyncio.create_task(simulate())
    await asyncio.gather(*(sender() for _ in range(8)))
    await asyncio.wait_for(sim, timeout=max(members.open_s.values(), default=0) / compress + 300)
    return answers


def figures(answers: list[tuple]) -> tuple[list[dict], dict]:
    from sqlalchemy import text

    from dispatch.db import get_engine

    with get_engine().connect() as conn:
        offers = conn.execute(text("SELECT case_id, distance_m, state, offered_at FROM offer ORDER BY id")).all()
        cases = conn.execute(text('SELECT id, status, created_at FROM "case"')).all()
        escalations = conn.execute(text("SELECT data FROM case_event WHERE action = 'escalated'")).scalars()
        reasons = Counter((d if isinstance(d, dict) else json.loads(d)).get("reason") for d in escalations)
    created = {c.id: c.created_at for c in cases}
    first_offer: dict[int, datetime] = {}
    per_case: Counter = Counter()
    for o in offers:
        first_offer.setdefault(o.case_id, o.offered_at)
        per_case[o.case_id] += 1
    to_offer = [(first_offer[c] - created[c]).total_seconds() for c in first_offer if c in created]
    all_d = [o.distance_m for o in offers if o.distance_m is not None]
    accepted = [o.distance_m for o in offers if o.state == "accepted" and o.distance_m is not None]
    rows = []
    for name, values in (("every offer", all_d), ("accepted offers", accepted)):
        rows.append(
            {
                "distance (m)": name,
                "n": len(values),
                "p50": pct(values, 50),
                "p90": pct(values, 90),
                "p99": pct(values, 99),
                "max": max(values) if values else float("nan"),
                "≤ 500 m": sum(v <= 500 for v in values),
                "500–1000 m": sum(500 < v <= 1000 for v in values),
                "1–2 km": sum(1000 < v <= 2000 for v in values),
                "2–5 km": sum(v > 2000 for v in values),
            }
        )
    lat = [a[2] for a in answers if a[1] in (200, 201)]
    stats = {
        "requests": len(answers),
        "accepted by the API": len(lat),
        "errors": sum(a[1] not in (200, 201) for a in answers),
        "answer p50 / p99 ms": f"{ms(pct(lat, 50))} / {ms(pct(lat, 99))}",
        "received → first offer p50 / p99 ms": f"{ms(pct(to_offer, 50))} / {ms(pct(to_offer, 99))}",
        "cases ever escalated": sum(reasons.values()),
        "escalation reasons": ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "none",
        "offers per case (mean / max)": f"{sum(per_case.values()) / max(1, len(per_case)):.2f} / "
        f"{max(per_case.values(), default=0)}",
        "final statuses": ", ".join(f"{k}: {v}" for k, v in Counter(c.status for c in cases).most_common()),
    }
    return rows, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--compress", type=float, default=100.0)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--max-open-h", type=float, default=24.0, help="cap of a case's open time before resolving")
    args = ap.parse_args(argv)
    if args.quick:
        args.compress, args.limit, args.max_open_h = 3000.0, 100, 2.0
    requests = load(args.limit, args.max_open_h)
    r_url = redis_url()
    db_url = scratch_database(DB_NAME)
    flush_redis(r_url)
    timeout_s = max(1, round(900 / args.compress))
    env = app_env(db_url, r_url, offer_timeout_s=timeout_s, sweep_interval_s=1)
    creds = prepare(env)
    use_env(env)
    members = Members(args.compress)
    procs = []
    t0 = time.time()
    try:
        api, url = serve(env, 2)
        procs += [api, rq_worker(env)]
        answers = asyncio.run(replay(url, creds["api_key"], requests, args.compress, members))
    finally:
        for p in reversed(procs):
            p.stop()
    wall = time.time() - t0
    rows, stats = figures(answers)
    span = (requests[-1]["day_s"] - requests[0]["day_s"]) / args.compress
    report(
        "Replay of NYC 311 requests through the hotline",
        "python bench/bench_replay.py" + (" --quick" if args.quick else ""),
        {
            "input": f"{len(requests)} requests of `../shared/data/nyc311/requests_1000.csv`, "
            f"{sum(r['lat'] is not None for r in requests)} with coordinates (mapped into 盐都区)",
            "time": f"time of day kept, compressed {args.compress:.0f}× → {span:.0f} s of arrivals; wall {wall:.0f} s",
            "offer timeout": f"{timeout_s} s (900 s compressed)",
            "members": "demo: 300 members, simulated: accept 80 %, decline 10 %, no answer 10 %; resolve after the "
            f"request's real open time (≤ {args.max_open_h:g} h), compressed",
            "API": "`shangliang serve --workers 2` + 1 × `shangliang worker`",
            **stats,
            **versions(db_url, r_url),
        },
        rows,
        ["requests without coordinates are escalated at once (no location): that is the rule, not a failure"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
