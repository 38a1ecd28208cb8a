"""The board at county scale: N open cases on PostgreSQL, the case list, a cold board in Chromium, new cases
arriving live.

A scratch database ``sl_bench_board`` is migrated, the demo loaded (300 members), and N open cases written in
SQL over the villages, in statuses nothing automatic acts on (escalated, reopened, offered with tomorrow's
expiry, assigned, in progress; a fifth past their due time). ``shangliang serve --workers 2`` and one
``shangliang worker`` serve it. Measured:

- ``GET /api/cases?status=<open>&limit=1000`` page by page (``before_id``) until every open case is read:
  time per page and bytes on the wire with and without gzip; and ``GET /api/cases/cards`` in pages of 2,000,
  as the board loads them;
- a cold board (a new browser context each time: no cache, no cookies) at 1920×1080 in Debian's Chromium:
  from navigation to every open case counted (``#board[data-ready]``), the bytes it moved (Resource Timing
  transfer sizes) and the cards it drew;
- live: M hotline cases posted one after another while the board is open; for each, the time from the 201 to
  its card appearing on the board (a MutationObserver in the page; one machine, one clock).

    .venv/bin/python bench/bench_board.py [--quick] [--open 5000] [--new 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip as gzip_module
import json
import sys
import time
from pathlib import Path

import httpx
from _common import (
    app_env,
    flush_redis,
    pct,
    prepare,
    redis_url,
    report,
    rq_worker,
    scratch_database,
    serve,
    token,
    versions,
)

from dispatch.auth.deps import SESSION_COOKIE

DB_NAME = "sl_bench_board"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OPEN = "new,offered,escalated,assigned,in_progress,reopened"

SEED = """
WITH v AS (SELECT array_agg(code ORDER BY code) AS codes, array_agg(parent_code ORDER BY code) AS towns,
                  array_agg(lat ORDER BY code) AS lats, array_agg(lon ORDER BY code) AS lons
           FROM region WHERE level = 'village'),
g AS (SELECT i, 1 + (i % array_length(v.codes, 1)) AS k, now() - (:n - i) * interval '1 minute' AS created, v.*
      FROM generate_series(1, :n) AS i, v)
INSERT INTO "case" (tracking_no, secret_hash, channel, status, content, urgency, confidential, lat, lon,
                    town_code, village_code, received_at, created_at, updated_at, offer_expires_at, due_at, category)
SELECT 'BB' || lpad(i::text, 8, '0'), 'x', 'hotline',
       (ARRAY['escalated','reopened','offered','assigned','in_progress'])[1 + (i % 5)],
       '第' || i || '号：路灯不亮', 'normal', false,
       lats[k] + (random() - 0.5) * 0.008, lons[k] + (random() - 0.5) * 0.008, towns[k], codes[k],
       created, created, created,
       CASE WHEN i % 5 = 2 THEN now() + interval '1 day' END,
       created + CASE WHEN i % 5 = 0 THEN interval '-1 hour' ELSE interval '7 days' END,
       '城乡建设'
FROM g
"""

# when each case's first event reached the page's main thread (before the board's own handler): splits a new
# case's way to the board into the server and socket part and the page's part
FRAMES = """(() => {
  window.__frames = {};
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (m) => {
      const now = Date.now();
      let ev = null;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      const id = ev.case && ev.case.id;
      if (id && !(id in window.__frames)) window.__frames[id] = now;
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
})();"""

ARRIVALS = """() => {
  window.__arrived = {};
  new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes) {
      const id = n.dataset && n.dataset.caseId;
      if (id && !(id in window.__arrived)) window.__arrived[id] = now;
    }
  }).observe(document.querySelector('.queues'), { childList: true, subtree: true });
}"""


CARD_PAGE = 2000  # as web/static/board.js asks
TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "disabled-by-default-devtools.timeline.stack",
    "v8.execute",
]


def print_trace(path: str, top: int = 15) -> None:
    """Where the board's main thread spent its time: the heaviest trace events by total (inclusive) time."""
    events = json.loads(Path(path).read_text())
    events = events.get("traceEvents", events) if isinstance(events, dict) else events
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    total: dict[str, float] = {}
    for e in events:
        if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) in main:
            name = e["name"]
            if name == "FunctionCall":
                data = e.get("args", {}).get("data", {})
                where = f"{Path(data.get('url') or '').name}:{data.get('lineNumber')}"
                name += f" {data.get('functionName') or '?'} {where}"
            total[name] = total.get(name, 0.0) + e.get("dur", 0) / 1000
    print(f"trace: {path}; the board's main thread, inclusive ms by event")
    for name, ms_ in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {ms_:10.1f}  {name}")


def seed(db_url: str, n: int) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute(SEED.replace(":n", str(int(n))))
        conn.execute('ANALYZE "case"')
        return conn.execute(
            f'SELECT count(*) FROM "case" WHERE status IN ({",".join(repr(s) for s in OPEN.split(","))})'
        ).fetchone()[0]


def case_pages(
    url: str, headers: dict, gzip: bool, path: str = "/api/cases", size: int = 1000
) -> tuple[list[float], int, int]:
    """Every open case, page by page: seconds per page, bytes on the wire, cases read."""
    times, wire, read, last = [], 0, 0, None
    enc = {"Accept-Encoding": "gzip" if gzip else "identity"}
    with httpx.Client(base_url=url, headers={**headers, **enc}, timeout=60) as client:
        while True:
            params = {"status": OPEN, "limit": size} | ({"before_id": last} if last else {})
            t0 = time.perf_counter()
            with client.stream("GET", path, params=params) as res:
                raw = b"".join(res.iter_raw())
                res.raise_for_status()
            times.append(time.perf_counter() - t0)
            wire += len(raw)
            body = gzip_module.decompress(raw) if res.headers.get("content-encoding") == "gzip" else raw
            page = json.loads(body)
            read += len(page)
            if len(page) < size:
                return times, wire, read
            last = page[-1]["id"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--open", type=int, default=5000, help="open cases on the board")
    ap.add_argument("--new", type=int, default=200, help="cases posted while the board is open")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trace", metavar="FILE", help="record a Chromium trace of the last board (load and arrivals)")
    args = ap.parse_args(argv)
    if args.quick:
        args.open, args.new, args.repeat = 300, 10, 1

    from playwright.sync_api import sync_playwright

    r_url = redis_url()
    db_url = scratch_database(DB_NAME)
    flush_redis(r_url)
    env = app_env(db_url, r_url)
    creds = prepare(env, members=300)
    open_n = seed(db_url, args.open)
    api, url = serve(env, 2)
    worker = rq_worker(env, "worker", "default")
    try:
        op = token(url, creds)
        headers = {"Authorization": f"Bearer {op}"}
        plain = [case_pages(url, headers, gzip=False) for _ in range(args.repeat)]
        zipped = [case_pages(url, headers, gzip=True) for _ in range(args.repeat)]
        assert all(r[2] == open_n for r in plain + zipped), "every open case read"
        page_s = [t for r in plain for t in r[0]]
        cards = [case_pages(url, headers, True, "/api/cases/cards", CARD_PAGE) for _ in range(args.repeat)]
        assert all(r[2] == open_n for r in cards), "every open case read as a card"
        card_s = [t for r in cards for t in r[0]]

        loads, firsts, reloads, moved, drawn, lat, to_page, in_page = [], [], [], [], [], [], [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            for i in range(args.repeat):
                ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN", base_url=url)
                ctx.set_default_timeout(120_000)
                if i == args.repeat - 1:
                    ctx.add_init_script(FRAMES)
                page = ctx.new_page()
                tracing = args.trace and i == args.repeat - 1
                if tracing:
                    browser.start_tracing(page=page, path=args.trace, categories=TRACE_CATEGORIES)
                page.goto("/login?next=/board")
                page.fill("#username", creds["username"])
                page.fill("#password", creds["password"])
                page.evaluate("() => performance.clearResourceTimings()")
                t0 = time.perf_counter()
                page.click("button[type=submit]")
                page.wait_for_selector("#queue-offered .case-card", state="attached")
                firsts.append(time.perf_counter() - t0)  # the first page's cards are on screen
                page.wait_for_selector("#board[data-ready='1']", state="attached")
                loads.append(time.perf_counter() - t0)
                counted = sum(int(page.inner_text(f"#count-{c}")) for c in ("new", "offered", "active", "overdue"))
                assert counted == open_n, (counted, open_n)
                moved.append(
                    page.evaluate(
                        "() => performance.getEntriesByType('resource')"
                        ".reduce((s, e) => s + (e.transferSize || 0), 0)"
                        " + performance.getEntriesByType('navigation')"
                        ".reduce((s, e) => s + (e.transferSize || 0), 0)"
                    )
                )
                drawn.append(page.locator(".case-card").count())
                # the same board opened again by someone signed in, as a wall screen reloads it: a new context (no
                # cache) holding only the session cookie, from navigation to every case counted
                signed = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN", base_url=url)
                signed.add_cookies([{"name": SESSION_COOKIE, "value": op, "url": url}])
                reload = signed.new_page()
                t0 = time.perf_counter()
                reload.goto("/board")
                reload.wait_for_selector("#board[data-ready='1']", state="attached", timeout=120_000)
                reloads.append(time.perf_counter() - t0)
                signed.close()
                if i == args.repeat - 1:  # live arrivals on the last board
                    page.evaluate(ARRIVALS)
                    key = {"X-API-Key": creds["api_key"]}
                    answered = {}
                    with httpx.Client(base_url=url, timeout=30) as client:
                        for n in range(args.new):
                            body = {
                                "external_id": f"live-{n}",
                                "content": f"第{n}号新来电：井盖缺失",
                                "lat": 33.38 + (n % 10) * 0.002,
                                "lon": 120.12 + (n // 10) * 0.002,
                            }
                            res = client.post("/api/intake/hotline", json=body, headers=key)
                            answered[res.json()["id"]] = time.time() * 1000
                            time.sleep(0.05)
                    page.wait_for_function(f"() => Object.keys(window.__arrived).length >= {args.new}", timeout=60_000)
                    arrived = page.evaluate("() => window.__arrived")
                    framed = page.evaluate("() => window.__frames")
                    lat = [(arrived[str(k)] - v) / 1000 for k, v in answered.items() if str(k) in arrived]
                    to_page = [(framed[str(k)] - v) / 1000 for k, v in answered.items() if str(k) in framed]
                    in_page = [(arrived[k] - framed[k]) / 1000 for k in arrived if k in framed]
                if tracing:
                    browser.stop_tracing()
                    print_trace(args.trace)
                ctx.close()
            browser.close()
    finally:
        worker.stop()
        api.stop()

    rows = [
        {
            "what": f"`GET /api/cases` page of 1,000 (all {open_n:,} in {len(plain[0][0])} pages)",
            "p50": f"{pct(page_s, 50) * 1000:.0f} ms",
            "max": f"{max(page_s) * 1000:.0f} ms",
            "bytes": f"{plain[0][1] / 1e6:.2f} MB plain / {zipped[0][1] / 1e6:.2f} MB gzip",
        },
        {
            "what": f"`GET /api/cases/cards` page of {CARD_PAGE:,} (all in {len(cards[0][0])} pages)",
            "p50": f"{pct(card_s, 50) * 1000:.0f} ms",
            "max": f"{max(card_s) * 1000:.0f} ms",
            "bytes": f"{cards[0][1] / 1e6:.2f} MB gzip",
        },
        {
            "what": "cold board (from the sign-in click) to the first page's cards on screen",
            "p50": f"{pct(firsts, 50):.2f} s",
            "max": f"{max(firsts):.2f} s",
            "bytes": "",
        },
        {
            "what": "cold board (no cache) signed in already: from navigation to every open case counted",
            "p50": f"{pct(reloads, 50):.2f} s",
            "max": f"{max(reloads):.2f} s",
            "bytes": "",
        },
        {
            "what": f"cold board to every open case counted ({args.repeat} new contexts)",
            "p50": f"{pct(loads, 50):.2f} s",
            "max": f"{max(loads):.2f} s",
            "bytes": f"{pct(moved, 50) / 1e6:.2f} MB moved, {drawn[-1]} cards drawn",
        },
        {
            "what": f"new case on the board after its 201 ({len(lat)} cases, one per 50 ms)",
            "p50": f"{pct(lat, 50) * 1000:.0f} ms",
            "max": f"{max(lat) * 1000:.0f} ms (p99 {pct(lat, 99) * 1000:.0f} ms)",
            "bytes": "",
        },
        {
            "what": "… of which: its first event at the page (server, relay, socket, the page's task queue)",
            "p50": f"{pct(to_page, 50) * 1000:.0f} ms",
            "max": f"{max(to_page) * 1000:.0f} ms (p99 {pct(to_page, 99) * 1000:.0f} ms)",
            "bytes": "",
        },
        {
            "what": "… and from that event to its card (the board's handler and the next frame)",
            "p50": f"{pct(in_page, 50) * 1000:.0f} ms",
            "max": f"{max(in_page) * 1000:.0f} ms (p99 {pct(in_page, 99) * 1000:.0f} ms)",
            "bytes": "",
        },
    ]
    page_ok, cold_ok, live_ok = pct(page_s, 50) <= 0.2, max(loads) <= 1.5, pct(lat, 99) <= 0.1
    report(
        f"The board with {open_n:,} open cases",
        "python bench/bench_board.py" + (" --quick" if args.quick else ""),
        {
            "data": f"demo (300 members, 269 villages) + {open_n:,} open cases written in SQL",
            "API": "`shangliang serve --workers 2` + `shangliang worker --queues default`, PostgreSQL + Redis",
            "browser": "Debian's Chromium, headless, 1920×1080, a new context per load",
            **versions(db_url, r_url),
        },
        rows,
        [
            f"{'met' if page_ok else 'NOT met'}: a page of 1,000 ≤ 200 ms (p50)",
            f"{'met' if cold_ok else 'NOT met'}: the cold board ≤ 1.5 s",
            f"{'met' if live_ok else 'NOT met'}: a new case on the board ≤ 100 ms p99 after intake",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
