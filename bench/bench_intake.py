"""Intake end to end against a bare Core-insert endpoint, side by side, on PostgreSQL + Redis.

The API runs as ``shangliang serve --workers N`` and ``shangliang worker`` processes (as compose runs them),
on a scratch database loaded with the demo (300 members, every one given room for 1,000 cases so that every
case is offered rather than escalated). A bare FastAPI app (``bench/_bare.py``: one Core INSERT and a
commit per request, the same uvicorn worker count) serves as the yardstick on the same database.

Rounds alternate bare and intake phases of the same length with the same closed-loop load (C connections,
each sending its next request when the previous answer arrives). For intake, a board socket records when the
case's dispatch event (``case.offered`` or ``case.escalated``) arrives:

- intake throughput = cases whose dispatch event reached the board / (last such arrival - phase start);
- latency = request sent → 201 (committed and dispatched), and request sent → event on the board;
- ratio = intake throughput / bare throughput.

    .venv/bin/python bench/bench_intake.py [--quick] [--duration 30] [--concurrency 128] [--rounds 2]
        [--api-workers 2] [--rq-workers 1] [--no-analysis] [--trace] [--profile DIR]

It uses a scratch database ``sl_bench_intake`` on the server of SHANGLIANG_DATABASE_URL (dropped and created)
and Redis BENCH_REDIS_URL (default redis://127.0.0.1:6379/13, flushed). ``--profile DIR`` records every API
worker with py-spy during the first intake phase (collapsed stacks in DIR; py-spy must be on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import (
    BIN,
    LOGS,
    CpuMeter,
    Http,
    Proc,
    app_env,
    descendants,
    flush_redis,
    free_port,
    messages,
    ms,
    pct,
    prepare,
    processes_named,
    redis_url,
    report,
    rq_worker,
    scratch_database,
    serve,
    token,
    verdict,
    versions,
    villages,
    wait_ready,
)

DB_NAME = "sl_bench_intake"


async def phase(
    kind: str,
    url: str,
    seconds: float,
    concurrency: int,
    key: str,
    places: list,
    tag: str,
    board=None,
    cpu=None,
    trace: bool = False,
):
    """One closed-loop phase; returns per-request samples, the board's arrival times by case id and the CPU
    seconds each group of processes used during the load."""
    host, port = url.removeprefix("http://").split(":")
    path = "/bare" if kind == "bare" else "/api/intake/hotline"
    headers = {} if kind == "bare" else {"X-API-Key": key}
    samples: list[tuple[float, float, int, int | None]] = []  # sent, answered, status, case id
    stop_at = time.time() + seconds
    counter = 0
    texts = messages()

    async def loop(worker: int) -> None:
        nonlocal counter
        client = Http(host, int(port))
        try:
            while time.time() < stop_at:
                counter += 1
                n = counter
                v = places[n % len(places)]
                text = texts[n % len(texts)]
                body = {
                    "external_id": f"{tag}-{worker}-{n}",
                    "title": text["title"],
                    "content": text["content"],
                    "lat": v["lat"] + (n % 17) * 1e-4,
                    "lon": v["lon"] - (n % 13) * 1e-4,
                    "caller_phone": "13800000000",
                }
                t0 = time.time()
                status, data = await client.post_json(path, body, headers)
                t1 = time.time()
                case_id = json.loads(data).get("id") if status in (200, 201) else None
                samples.append((t0, t1, status, case_id))
        finally:
            await client.close()

    if cpu is not None:
        cpu.start()
    start = time.time()
    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    used = cpu.stop() if cpu is not None else {}
    if trace:  # completions and the slowest answer, second by second: stalls show up here
        per: dict[int, list[float]] = {}
        for t0, t1, _, _ in samples:
            per.setdefault(int(t1 - start), []).append(t1 - t0)
        print(kind, [(k, len(v), round(max(v), 2)) for k, v in sorted(per.items())], file=sys.stderr)
    arrivals: dict[int, float] = {}
    if board is not None:
        wanted = {s[3] for s in samples if s[3] is not None}
        deadline = time.time() + 30
        seen = board()
        while time.time() < deadline and not wanted <= seen.keys():
            await asyncio.sleep(0.1)  # the board process appends to its file; poll it
            seen = board()
        arrivals = {cid: seen[cid] for cid in wanted if cid in seen}
    return start, samples, arrivals, used


def sessions_started(db_url: str) -> int:
    """Sessions PostgreSQL has started in the database since its statistics were reset (PostgreSQL ≥ 14): a
    yardstick that churns connections shows up here."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
        return int(row[0]) if row else 0


def summarise(kind: str, runs: list) -> dict:
    lat, e2e, tput, errors, total = [], [], [], 0, 0
    cpu: dict[str, float] = {}
    for start, samples, arrivals, used in runs:
        for name, seconds in used.items():
            cpu[name] = cpu.get(name, 0.0) + seconds
        ok = [s for s in samples if s[2] in (200, 201)]
        errors += len(samples) - len(ok)
        total += len(samples)
        lat += [s[1] - s[0] for s in ok]
        if kind == "bare":
            end = max(s[1] for s in ok) if ok else start
            tput.append(len(ok) / max(1e-9, end - start))
        else:
            sent = {s[3]: s[0] for s in ok}
            e2e += [arrivals[c] - sent[c] for c in arrivals]
            end = max(arrivals.values()) if arrivals else start
            tput.append(len(arrivals) / max(1e-9, end - start))
            errors += len(ok) - len(arrivals)  # committed but no dispatch event seen on the board
    return {
        "throughput": sum(tput) / len(tput),
        "requests": total,
        "errors": errors,
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "e2e_p50": pct(e2e, 50) if e2e else float("nan"),
        "e2e_p99": pct(e2e, 99) if e2e else float("nan"),
        "cpu_ms_per_request": {name: 1000 * seconds / max(1, total) for name, seconds in cpu.items()},
    }


def profile(pids: list[int], seconds: float, out: Path) -> list[subprocess.Popen]:
    spy = shutil.which("py-spy")
    if not spy:
        print("py-spy not on PATH: no profile", file=sys.stderr)
        return []
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200", "--format", "raw"]
            + ["--output", str(out / f"api-{pid}.txt"), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


async def main_async(args) -> int:
    if args.embedded:  # one process: SQLite, in-process Redis and the worker thread, as `make run` serves
        var = Path(tempfile.mkdtemp(prefix="sl-bench-embedded-"))
        db_url, r_url = f"sqlite:///{var / 'shangliang.db'}", None
        env = app_env(None, None, var_dir=var)
        creds = prepare(env, members=args.members)
        with sqlite3.connect(var / "shangliang.db") as conn:
            conn.execute("UPDATE member SET capacity = 1000000, on_duty = 1")
        bare_db = f"sqlite:///{var / 'bare.db'}"
    else:
        r_url = redis_url()
        db_url = scratch_database(DB_NAME)
        flush_redis(r_url)
        env = app_env(db_url, r_url)
        creds = prepare(env, members=args.members)
        import psycopg

        with psycopg.connect(db_url) as conn:  # room for every case: they are offered, not escalated
            conn.execute("UPDATE member SET capacity = 1000000, on_duty = true")
        flush_redis(r_url)  # the locator rebuilds from the database at the first claim
        bare_db = db_url.replace("postgresql://", "postgresql+psycopg://")

    os.environ["BENCH_BARE_DB"] = bare_db
    sys.path.insert(0, str(Path(__file__).parent))
    import _bare  # noqa: F401 - creates its table once, before its workers start

    procs: list[Proc] = []
    try:
        bare_port = free_port()
        bare = Proc(
            [str(BIN / "uvicorn"), "_bare:app", "--app-dir", "bench", "--host", "127.0.0.1", "--port", str(bare_port)]
            + ["--workers", str(args.api_workers), "--log-level", "warning"],
            "bare",
            {**env, "BENCH_BARE_DB": os.environ["BENCH_BARE_DB"]},
        )
        procs.append(bare)
        bare_url = f"http://127.0.0.1:{bare_port}"
        wait_ready(bare_url, bare)
        api, url = serve(env, args.api_workers)
        procs.append(api)
        # as compose runs them: short jobs on their own workers, hotspot detection on one at a lower priority
        workers = [] if args.embedded else [rq_worker(env, f"worker-{i}", "default") for i in range(args.rq_workers)]
        if not args.no_analysis and not args.embedded:
            workers.append(rq_worker(env, "worker-analysis", "analysis", nice=10))
        procs += workers
        op = token(url, creds)

        host, port = url.removeprefix("http://").split(":")
        board_file = Path(LOGS) / "board-arrivals.txt"
        board_proc = Proc(
            [sys.executable, str(Path(__file__).parent / "_board.py"), host, port, op, str(board_file)], "board", env
        )
        procs.append(board_proc)
        while not board_file.exists() or not board_file.read_text().startswith("ready"):
            if board_proc.p.poll() is not None:
                raise SystemExit("the board client ended:\n" + board_proc.tail())
            await asyncio.sleep(0.1)

        def board() -> dict[int, float]:
            seen: dict[int, float] = {}
            for line in board_file.read_text().splitlines()[1:]:
                case_id, _, at = line.partition(" ")
                if at:
                    seen.setdefault(int(case_id), float(at))
            return seen

        groups = {
            # embedded: the one process and its clustering child
            "API workers": lambda: [p for p in api.pids() if p != api.pid or args.embedded],
            "RQ workers": lambda: [p for w in workers for p in w.pids()],
            "bare workers": lambda: [p for p in bare.pids() if p != bare.pid or args.embedded],
            "PostgreSQL": lambda: processes_named("postgres"),
            "Redis": lambda: processes_named("redis-server"),
            "load client": lambda: [os.getpid()],
            "board client": lambda: [board_proc.pid],
        }
        cpu = CpuMeter(groups)
        places = villages()

        # warm-up: imports, pools, the locator's rebuild
        await phase("intake", url, min(3, args.duration), 4, creds["api_key"], places, "warm", board)
        await phase("bare", bare_url, min(3, args.duration), 4, creds["api_key"], places, "warm")

        runs: dict[str, list] = {"bare": [], "intake": []}
        sessions: dict[str, int] = {"bare": 0, "intake": 0}
        spies: list[subprocess.Popen] = []
        bare_pool = json.loads(urllib.request.urlopen(bare_url + "/readyz", timeout=10).read())
        print(f"bare endpoint pool: {bare_pool['pool_size']} + overflow {bare_pool['max_overflow']}", flush=True)
        for r in range(args.rounds):
            before = sessions_started(db_url) if not args.embedded else 0
            runs["bare"].append(
                await phase(
                    "bare",
                    bare_url,
                    args.duration,
                    args.concurrency,
                    creds["api_key"],
                    places,
                    f"b{r}",
                    None,
                    cpu,
                    args.trace,
                )
            )
            sessions["bare"] += sessions_started(db_url) - before if not args.embedded else 0
            if r == 0 and args.profile:
                api_pids = [p for p in descendants(api.pid) if p != api.pid] or [api.pid]
                spies = profile(api_pids, args.duration, Path(args.profile))
            before = sessions_started(db_url) if not args.embedded else 0
            runs["intake"].append(
                await phase(
                    "intake",
                    url,
                    args.duration,
                    args.concurrency,
                    creds["api_key"],
                    places,
                    f"i{r}",
                    board,
                    cpu,
                    args.trace,
                )
            )
            sessions["intake"] += sessions_started(db_url) - before if not args.embedded else 0
        print(f"PostgreSQL sessions started: bare {sessions['bare']}, intake {sessions['intake']}", flush=True)
        for spy in spies:
            spy.wait(timeout=60)
    finally:
        for p in reversed(procs):
            p.stop()

    bare_s, intake_s = summarise("bare", runs["bare"]), summarise("intake", runs["intake"])
    ratio = intake_s["throughput"] / bare_s["throughput"] if bare_s["throughput"] else float("nan")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    table = [
        {
            "endpoint": "bare Core insert (`bench/_bare.py`)",
            "cases/s": bare_s["throughput"],
            "requests": bare_s["requests"],
            "errors": bare_s["errors"],
            "p50 ms (answer)": ms(bare_s["p50"]),
            "p99 ms (answer)": ms(bare_s["p99"]),
            "p50 ms (board)": "–",
            "p99 ms (board)": "–",
            "PG sessions started": sessions["bare"],
        },
        {
            "endpoint": "intake end to end (`POST /api/intake/hotline` → board)",
            "cases/s": intake_s["throughput"],
            "requests": intake_s["requests"],
            "errors": intake_s["errors"],
            "p50 ms (answer)": ms(intake_s["p50"]),
            "p99 ms (answer)": ms(intake_s["p99"]),
            "p50 ms (board)": ms(intake_s["e2e_p50"]),
            "p99 ms (board)": ms(intake_s["e2e_p99"]),
            "PG sessions started": sessions["intake"],
        },
    ]
    defaults = vars(parser().parse_args([]))
    cmd = (
        "python bench/bench_intake.py"
        + (" --quick" if args.quick else "")
        + "".join(
            f" --{name.replace('_', '-')} {value:g}"
            if isinstance(value, float)
            else f" --{name.replace('_', '-')} {value}"
            for name, value in vars(args).items()
            if not args.quick and name not in ("quick", "trace", "profile") and value != defaults.get(name)
        )
    )
    report(
        "Intake end to end vs a bare Core insert" + (" (embedded default)" if args.embedded else ""),
        cmd,
        {
            "phases": f"{args.rounds} rounds × (bare {args.duration:.0f} s, intake {args.duration:.0f} s), alternating",
            "load": f"closed loop, {args.concurrency} keep-alive connections, one Python asyncio client process",
            "API": "the embedded default: one `shangliang serve` process (SQLite, in-process Redis, worker thread, "
            "clustering in a child process); the bare endpoint on its own SQLite file, the app's SQLite settings"
            if args.embedded
            else f"`shangliang serve --workers {args.api_workers}` + {args.rq_workers} × `shangliang worker "
            "--queues default`"
            + (
                " and no analysis worker (`--no-analysis`)"
                if args.no_analysis
                else " + `shangliang worker --queues analysis --nice 10` (as compose runs them)"
            ),
            "content": "the 4,326 real messages of `shared/data/messages` in turn (title and text)",
            "data": f"demo: {args.members} members (capacity raised so every case is offered), 269 villages",
            "bare endpoint": f"pool {bare_pool['pool_size']} connections per worker, no overflow (one per request "
            "thread)",
            "load client CPU": f"{usage.ru_utime + usage.ru_stime:.1f} s over the whole run",
            "board client": "a separate process (`bench/_board.py`), reconnecting with `last_event_id` if cut",
            **versions(None if args.embedded else db_url, r_url),
            **({"sqlite": sqlite3.sqlite_version} if args.embedded else {}),
        },
        table,
        [
            f"ratio intake / bare = **{ratio:.2f}**",
            verdict(ratio >= 0.5 and intake_s["e2e_p99"] <= 1.0, "≥ 0.5 × a bare SQLite insert, board p99 ≤ 1 s")
            if args.embedded
            else verdict(
                intake_s["throughput"] >= 500 and ratio >= 0.8, "≥ 500 cases/s and ≥ 0.8 × the fair bare endpoint"
            ),
            "CPU ms per request during the load (all processes of each group; the machine has 2 cores): "
            + "; ".join(
                f"{name}: bare {bare_s['cpu_ms_per_request'].get(name, 0):.2f} / intake "
                f"{intake_s['cpu_ms_per_request'].get(name, 0):.2f}"
                for name in intake_s["cpu_ms_per_request"]
            ),
            "answer: request sent → 201 (case committed, offered, outbox written); board: request sent → "
            "`case.offered`/`case.escalated` received on a board socket",
        ],
    )
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds: checks that the script works")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    ap.add_argument("--concurrency", type=int, default=128, help="requests in flight (closed loop)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--api-workers", type=int, default=2)
    ap.add_argument("--rq-workers", type=int, default=1)
    ap.add_argument("--members", type=int, default=300)
    ap.add_argument(
        "--no-analysis", action="store_true", help="no hotspot-detection worker (to see what detection costs)"
    )
    ap.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded default (SQLite, in-process Redis and worker, one process) against a bare SQLite insert",
    )
    ap.add_argument("--trace", action="store_true", help="print completions per second of each phase (stderr)")
    ap.add_argument("--profile", default=None, help="directory for py-spy profiles of the API workers")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.duration, args.concurrency, args.rounds = 3.0, 8, 1
    if args.embedded:  # one process holds the in-process Redis: there is no second API process or RQ worker
        args.api_workers, args.rq_workers = 1, 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
