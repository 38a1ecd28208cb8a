"""Hotspot detection's CPU per new case: the incremental index against clustering from nothing.

The window detection reads (the newest 5,000 open cases) is built from the 4,326 real messages of
``shared/data/messages`` at the demo's 269 village positions, one case every ``--gap-s`` seconds, each text
made unique (its number appended) so that every new case is segmented as a new case at intake would be.
Then runs follow as detection runs under continuous intake: each brings ``--new`` cases and the oldest as
many leave the window. For each run: the CPU of ``Index.sync`` (segmenting the new cases, their vectors, the
cosines with the cases each can be near, the groups) and of ``cluster`` over the same window from nothing
(with every token already cached, so only vectors and cosines: a lower bound for what a full re-clustering
costs). No database, no Redis: detection's own work only.

    .venv/bin/python bench/bench_detect.py [--quick] [--window 5000] [--new 100,1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from _common import ROOT, SHARED_DATA, report

sys.path.insert(0, str(ROOT))

from dispatch.analysis import classify, hotspots  # noqa: E402
from dispatch.analysis import text as tx  # noqa: E402
from dispatch.regions import reference  # noqa: E402


def cases(gap_s: float, seed: int = 5):
    """An endless supply of cases, oldest first."""
    with (SHARED_DATA / "messages" / "messages_4326.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    villages = [r for r in reference.load_reference() if r["level"] == "village"]
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    k = 0
    while True:
        r, v = rows[k % len(rows)], rng.choice(villages)
        text = f"{r['留言主题']} {r['留言详情']} {k}"
        at = start + timedelta(seconds=gap_s * k)
        yield hotspots.Item(k + 1, text, at, v["code"], v["parent_code"], v["lat"], v["lon"])
        k += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--window", type=int, default=5000)
    ap.add_argument("--new", default="100,1000", help="new cases per run, comma-separated")
    ap.add_argument("--runs", type=int, default=5, help="runs per size")
    ap.add_argument("--gap-s", type=float, default=120.0, help="seconds between cases (120: 5,000 in a week)")
    args = ap.parse_args(argv)
    if args.quick:
        args.window, args.new, args.runs = 1000, "100", 2
    sizes = [int(x) for x in args.new.split(",")]
    idf = classify.background_idf()
    supply = cases(args.gap_s)
    window = [next(supply) for _ in range(args.window)]
    index = hotspots.Index(idf)
    t = time.process_time()
    index.sync(window)
    cold = time.process_time() - t
    rows = [
        {
            "run": f"first ({args.window:,} cases, none seen)",
            "new cases": args.window,
            "index CPU ms": cold * 1000,
            "index ms per new case": cold * 1000 / args.window,
            "cosines per new case": index.compared / args.window,
            "from nothing CPU ms (tokens cached)": float("nan"),
        }
    ]
    for size in sizes:
        took, scratch, compared = 0.0, 0.0, 0
        for _ in range(args.runs):
            window = window[size:] + [next(supply) for _ in range(size)]
            before = index.compared
            t = time.process_time()
            index.sync(window)
            took += time.process_time() - t
            compared += index.compared - before
            fresh = [hotspots.Item(i.id, i.text, i.at, i.village_code, i.town_code, i.lat, i.lon) for i in window]
            t = time.process_time()
            hotspots.cluster(fresh, idf=idf)
            scratch += time.process_time() - t
        rows.append(
            {
                "run": f"{args.runs} runs of {size:,} new",
                "new cases": size * args.runs,
                "index CPU ms": took * 1000 / args.runs,
                "index ms per new case": took * 1000 / (size * args.runs),
                "cosines per new case": compared / (size * args.runs),
                "from nothing CPU ms (tokens cached)": scratch * 1000 / args.runs,
            }
        )
    seg = [next(supply).text for _ in range(500)]
    t = time.process_time()
    for text in seg:
        tx.tokenize(text)
    per_text = (time.process_time() - t) * 1000 / len(seg)
    report(
        f"Hotspot detection: incremental index over a window of {args.window:,}",
        "python bench/bench_detect.py" + (" --quick" if args.quick else ""),
        {
            "content": "the 4,326 real messages of `shared/data/messages` in turn, each made unique, at the demo's "
            "269 village positions",
            "window": f"the newest {args.window:,} open cases, one every {args.gap_s:g} s (time window 14 days, "
            "1 km, cosine ≥ 0.30 over the background idf)",
        },
        rows,
        [
            f"segmentation alone (jieba cut and token filter): {per_text:.3f} ms per message",
            "index CPU per run = segmenting and vectorising the new cases, their cosines, and the groups of the "
            "whole window; from nothing = `cluster` over the same window with every token cached",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
