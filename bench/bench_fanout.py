"""Fan-out: S board sockets on one API process, E events per second, event → client latency.

One ``shangliang serve --workers 1`` process on PostgreSQL + Redis (scratch database ``sl_bench_fanout``,
Redis BENCH_REDIS_URL, default db 13, flushed). S board sockets are opened by P client processes (a minimal
websocket reader on uvloop each, so that the clients cost little). This process then emits E events per second
through the real path: ``events.service.emit`` in a committed transaction (the outbox row), the relay (XADD
to the stream), the API process's stream reader, its per-socket queues and the sockets.

Latency = the client's receive time − the event's ``at`` (set when the outbox row is written, before the
commit; same machine clock). Every socket counts every frame; each socket decodes one event in ten (by the
event's sequence number) for the latency sample, so all sockets contribute. Also reported: frames delivered
/ expected, sockets closed by the server (4008: too slow), and the API process's RSS.

    .venv/bin/python bench/bench_fanout.py [--quick] [--sockets 1000] [--rate 100] [--duration 60]
        [--client-procs 2] [--interval-ms N] [--batch-ms N]

A city's storm: ``--rate 1000 --batch-ms 10`` (the emitter commits the events of each 10 ms together).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import threading
import time
from datetime import datetime

from _common import (
    WsClient,
    app_env,
    cpu_seconds,
    flush_redis,
    ms,
    pct,
    prepare,
    redis_url,
    report,
    rss_mb,
    scratch_database,
    serve,
    token,
    use_env,
    versions,
)

DB_NAME = "sl_bench_fanout"
MARK = b'"bench_seq":'


def client_proc(host: str, port: int, path: str, first: int, count: int, ready, go_home, out) -> None:
    """One client process on uvloop: ``count`` sockets; reports (frames, latencies, close codes) when told to stop.

    uvloop because the clients share the two cores with the server they measure: with asyncio's own loop each
    client process took about half a core here, with uvloop under a third.
    """

    async def run() -> None:
        lat: list[float] = []
        clients: list[WsClient] = []
        marked = [0] * count  # event frames per socket (the hello is not one)

        def on_text_for(index: int):
            def on_text(payload: bytes, now: float) -> None:
                at = payload.find(MARK)
                if at < 0:
                    return
                marked[index - first] += 1
                end = payload.find(b",", at)
                seq = int(payload[at + len(MARK) : end if end > 0 else payload.find(b"}", at)])
                if seq % 10 == index % 10:
                    event = json.loads(payload)
                    lat.append(now - datetime.fromisoformat(event["at"]).timestamp())

            return on_text

        for i in range(first, first + count):
            clients.append(await WsClient.open(host, port, path, on_text_for(i)))
        ready.put(count)
        while go_home.empty():
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        frames = marked
        codes = [c.close_code for c in clients if c.closed.done()]
        for c in clients:
            c.close()
        out.put((frames, lat, codes))

    import uvloop  # the server's loop too

    uvloop.run(run())


def emitter(rate: float, seconds: float, batch_ms: float = 0.0) -> int:
    """Emit ``rate`` events a second for ``seconds``; returns how many. Each event is its own committed
    transaction, or, with ``batch_ms``, every event due in a ``batch_ms`` tick shares one (a city's storm:
    one transaction per event caps a single emitter near 300/s)."""
    from sqlmodel import Session

    from dispatch.db import get_engine
    from dispatch.events.relay import start_background
    from dispatch.events.service import emit

    start_background()  # as in a server process: commits wake one relay thread, which sends in batches
    engine = get_engine()
    start = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        if batch_ms:
            time.sleep(batch_ms / 1000)
            due = min(int((time.perf_counter() - start) * rate), int(seconds * rate))
        else:
            time.sleep(max(0.0, start + n / rate - time.perf_counter()))
            due = n + 1
        if due <= n:
            continue
        with Session(engine) as session:
            for seq in range(n, due):
                emit(session, "member.position", member={"id": 0, "bench": True}, extra={"bench_seq": seq})
            session.commit()
        n = due
    del elapsed
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument(
        "--interval-ms", type=int, default=None, help="SHANGLIANG_FANOUT_INTERVAL_MS for the API (default: the app's)"
    )
    ap.add_argument(
        "--batch-ms", type=float, default=0.0, help="commit the events due every N ms together (0: one per event)"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.sockets, args.duration = 50, 5.0
    result = run(args.sockets, args.rate, args.duration, args.client_procs, args.interval_ms, args.batch_ms)
    r = result
    report(
        f"Fan-out: {args.sockets:,} sockets, {args.rate:g} events/s",
        "python bench/bench_fanout.py"
        + (" --quick" if args.quick else "")
        + (f" --rate {args.rate:g}" if args.rate != 100 else "")
        + (f" --batch-ms {args.batch_ms:g}" if args.batch_ms else "")
        + (f" --duration {args.duration:g}" if args.duration != 60 and not args.quick else ""),
        {
            "API": "`shangliang serve --workers 1` (one process), PostgreSQL + Redis, fan-out interval "
            + ("the default" if args.interval_ms is None else f"{args.interval_ms} ms"),
            "clients": f"{args.sockets:,} board sockets over {args.client_procs} client processes",
            "events": f"{r['emitted']:,} `member.position` events, {args.rate:g}/s for {args.duration:g} s, "
            + (
                f"committed through the outbox in one transaction per {args.batch_ms:g} ms and relayed"
                if args.batch_ms
                else "each committed through the outbox and relayed"
            ),
            **r["versions"],
        },
        [
            {
                "sockets": args.sockets,
                "events/s (sent / asked)": f"{r['emitted'] / args.duration:.1f} / {args.rate:.0f}",
                "frames delivered": f"{r['frames']:,} / {r['expected']:,}",
                "closed by server": r["closed"],
                "p50 ms": ms(r["p50"]),
                "p99 ms": ms(r["p99"]),
                "max ms": ms(r["max"]),
                "API RSS MiB (end / peak)": f"{r['rss']:.0f} / {r['peak']:.0f}",
                "CPU s: API / clients / emitter": " / ".join(
                    f"{r[k]:.1f}" for k in ("cpu_api", "cpu_clients", "cpu_emitter")
                ),
            }
        ],
        [
            f"**{'met' if r['p99'] <= 0.25 and r['frames'] == r['expected'] else 'NOT met'}**: p99 ≤ 250 ms, all "
            "frames delivered",
            f"CPU seconds while the events were emitted and delivered ({r['window']:.1f} s, so at most "
            f"{2 * r['window']:.0f} on two cores): the API process, the client processes together, the emitter "
            "(this process: outbox writes and the relay)",
        ],
    )
    return 0


def run(
    sockets: int,
    rate: float,
    duration: float,
    client_procs: int,
    interval_ms: int | None = None,
    batch_ms: float = 0.0,
) -> dict:
    """The measurement, reusable by bench_memory.py."""
    r_url = redis_url()
    db_url = scratch_database(DB_NAME)
    flush_redis(r_url)
    env = app_env(db_url, r_url, **({} if interval_ms is None else {"fanout_interval_ms": interval_ms}))
    creds = prepare(env, members=20)
    use_env(env)
    api, url = serve(env, 1)
    try:
        pid = api.pids()[-1]  # the uvicorn process serving (the last descendant)
        op = token(url, creds)
        host, port = url.removeprefix("http://").split(":")
        ctx = mp.get_context("spawn")
        ready, go_home, out = ctx.Queue(), ctx.Queue(), ctx.Queue()
        share = [sockets // client_procs + (i < sockets % client_procs) for i in range(client_procs)]
        procs, first = [], 0
        for count in share:
            p = ctx.Process(
                target=client_proc, args=(host, int(port), f"/ws/board?token={op}", first, count, ready, go_home, out)
            )
            p.start()
            procs.append(p)
            first += count
        opened = sum(ready.get(timeout=300) for _ in procs)
        assert opened == sockets
        peak_sampler = {"peak": 0.0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                peak_sampler["peak"] = max(peak_sampler["peak"], rss_mb(pid)[0])

        threading.Thread(target=sample, daemon=True).start()
        client_pids = [p.pid for p in procs]
        cpu0 = (cpu_seconds(pid), sum(map(cpu_seconds, client_pids)), time.process_time(), time.perf_counter())
        emitted = emitter(rate, duration, batch_ms)
        time.sleep(2)  # the last events' way through
        cpu1 = (cpu_seconds(pid), sum(map(cpu_seconds, client_pids)), time.process_time(), time.perf_counter())
        for _ in procs:
            go_home.put(1)
        frames, lat, codes = 0, [], []
        for _ in procs:
            f, lt, cs = out.get(timeout=120)
            frames += sum(f)
            lat += lt
            codes += cs
        for p in procs:
            p.join(timeout=30)
        stop.set()
        rss, peak = rss_mb(pid)
    finally:
        api.stop()
    return {
        "emitted": emitted,
        "frames": frames,
        "expected": emitted * sockets,
        "closed": sum(1 for c in codes if c is not None),
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "max": max(lat) if lat else float("nan"),
        "rss": rss,
        "peak": max(peak, peak_sampler["peak"]),
        "cpu_api": cpu1[0] - cpu0[0],
        "cpu_clients": cpu1[1] - cpu0[1],
        "cpu_emitter": cpu1[2] - cpu0[2],
        "window": cpu1[3] - cpu0[3],
        "versions": versions(db_url, r_url),
    }


if __name__ == "__main__":
    sys.exit(main())
