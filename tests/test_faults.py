"""Faults with real processes: a worker killed mid-job, Redis restarted mid-burst, an API replica killed
under connected boards, and a hotline feed that repeats and reorders itself.

The first three need separate processes on PostgreSQL + Redis (an RQ worker, a redis-server, uvicorn
replicas), so they run on the services backend only; the hotline test runs on both.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import SERVICES
from helpers import api_key, auth, create_member, user_token
from holdworker import HOLD
from procs import ApiServer, RedisServer, api_process, hold_worker_process, wait_for
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dispatch import broker as broker_mod
from dispatch.config import get_settings
from dispatch.db import get_engine

services_only = pytest.mark.skipif(
    not SERVICES,
    reason="needs real processes sharing PostgreSQL + Redis (an RQ worker, a redis-server, uvicorn replicas); "
    "the embedded default is one process with an in-process Redis",
)


def village(api: httpx.Client, token: str, index: int = 3) -> dict:
    return api.get("/api/regions?level=village", headers=auth(token)).json()[index]


def case_of(token: str, api: httpx.Client, case_id: int) -> dict:
    res = api.get(f"/api/cases/{case_id}", headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


def outbox(after: str = "0-0") -> tuple[list[str], int]:
    """Stream ids (later than ``after``) of the relayed outbox rows, and how many rows are not relayed yet."""
    # one statement, one snapshot: read as two, a relay committing between them made a row neither unsent nor
    # among the sent ones, and the board "complete" without it
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT stream_id, sent_at IS NOT NULL FROM outbox ORDER BY id")).all()
    sent = [sid for sid, relayed in rows if relayed]
    return [s for s in sent if id_key(s) > id_key(after)], len(rows) - len(sent)


class Board:
    """A board socket read by a thread; on a dropped connection it reconnects where told, with its last id."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url, self.token = ws_url, token
        self.events: list[dict] = []
        self.last_id: str | None = None
        self.start_id = "0-0"  # the stream's newest id when the board first connected (its hello)
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._open(ws_url)

    def _open(self, ws_url: str) -> None:
        query = f"token={self.token}" + (f"&last_event_id={self.last_id}" if self.last_id else "")
        self.ws = connect(f"{ws_url}/ws/board?{query}", open_timeout=10)
        self.closed.clear()
        threading.Thread(target=self._read, args=(self.ws,), daemon=True).start()

    def _read(self, ws) -> None:
        try:
            with ws:
                self._consume(ws)
        except (ConnectionClosed, OSError):
            pass
        self.closed.set()

    def _consume(self, ws) -> None:
        for raw in ws:
            msg = json.loads(raw)
            with self._lock:
                if msg["type"] not in ("hello", "replay.gap"):
                    self.events.append(msg)
                    self.last_id = msg["id"]
                elif msg["type"] == "hello" and self.last_id is None:
                    self.last_id = self.start_id = msg["id"] or "0-0"

    def reconnect(self, ws_url: str) -> None:
        self.ws.close()
        self.closed.wait(10)
        self._open(ws_url)

    def ids(self) -> set[str]:
        with self._lock:
            return {e["id"] for e in self.events}

    def close(self) -> None:
        self.ws.close()


# ---- 1. an RQ worker killed in the middle of an offer-timeout job ---------------------------------------


@services_only
@pytest.mark.settings(offer_timeout_s=2, sweep_interval_s=3600)
def test_a_worker_killed_mid_job_leaves_no_case_stuck(env):
    """The job is killed after its changes and before its commit; a new worker finishes the work."""
    workers = []
    with ApiServer(embedded_worker=False) as server, httpx.Client(base_url=server.url, timeout=30) as api:
        try:
            _killed_mid_job(api, workers)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(w.output() for w in workers)) from None
        finally:
            for w in workers:
                w.stop()


def _killed_mid_job(api: httpx.Client, workers: list) -> None:
    op = user_token(api, "operator")
    v = village(api, op)
    near = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"] + 0.001)
    far = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"] + 0.01)
    r = broker_mod.get_broker().r
    r.set(f"{HOLD}:armed", 1)
    workers.append(first := hold_worker_process("worker-1"))
    res = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": api_key()},
        json={"external_id": "kill-1", "content": "井盖缺失", "lat": v["lat"], "lon": v["lon"]},
    )
    assert res.status_code == 201, res.text
    case_id = res.json()["id"]
    assert case_of(op, api, case_id)["offered_to"] == near["id"]

    # the timeout job expired the offer and offered the case to the next member, and waits before committing
    horse = int(wait_for(lambda: r.get(f"{HOLD}:pid"), "the offer-timeout job to reach its commit", timeout=120))
    assert not r.exists(f"{HOLD}:armed")
    os.kill(horse, signal.SIGKILL)
    first.kill()
    seen = case_of(op, api, case_id)  # nothing of the killed job was committed, and the row is not locked
    assert (seen["status"], seen["offered_to"]) == ("offered", near["id"])

    workers.append(hold_worker_process("worker-2", {"SHANGLIANG_SWEEP_INTERVAL_S": "0.5"}))
    moved = wait_for(
        lambda: (c := case_of(op, api, case_id))["offered_to"] == far["id"] and c,
        "the case to move on to the next member",
    )
    assert moved["status"] == "offered"
    final = wait_for(
        lambda: (c := case_of(op, api, case_id))["status"] == "escalated" and c,
        "the second offer to expire too (nobody left: escalated)",
    )
    assert final["offered_to"] is None
    trail = api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()
    assert [e["action"] for e in trail if e["action"] in ("offered", "offer_expired", "escalated")] == [
        "offered",
        "offer_expired",
        "offered",
        "offer_expired",
        "escalated",
    ]
    with get_engine().connect() as conn:  # no case anywhere is left in an offer past its expiry
        stuck = conn.execute(
            text("SELECT count(*) FROM offer WHERE state = 'open' AND expires_at < now() - interval '6 seconds'")
        ).scalar_one()
    assert stuck == 0


# ---- 2. Redis restarted during a burst of intake -----------------------------------------------------------


@pytest.fixture
def own_redis(env, tmp_path, monkeypatch):
    """A redis-server of the test's own; the app in this process points at it."""
    server = RedisServer(tmp_path)
    server.start()
    monkeypatch.setenv("SHANGLIANG_REDIS_URL", server.url)
    get_settings.cache_clear()
    broker_mod.set_broker(None)
    yield server
    server.stop()
    broker_mod.set_broker(None)


@services_only
@pytest.mark.settings(sweep_interval_s=0.5, relay_interval_s=0.2)
def test_a_redis_restart_during_a_burst_loses_no_case_and_no_event(own_redis):
    with ApiServer(embedded_worker=True) as server, httpx.Client(base_url=server.url, timeout=30) as api:
        op = user_token(api, "operator")
        key = api_key()
        v = village(api, op)
        create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], capacity=500)
        board = Board(server.ws_url, op)
        total, done = 120, []
        lock = threading.Lock()

        def send(i: int) -> None:
            body = {"external_id": f"burst-{i}", "content": f"路灯不亮 {i}", "lat": v["lat"], "lon": v["lon"]}
            with httpx.Client(base_url=server.url, timeout=30) as client:
                res = client.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
            with lock:
                done.append((i, res.status_code, res.json()))

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(send, i) for i in range(total)]
            wait_for(lambda: len(done) >= 30, "the first third of the burst", timeout=60)
            own_redis.stop()
            wait_for(lambda: len(done) >= 60, "intake to go on while Redis is down", timeout=60)
            own_redis.start()  # same port, empty
            for f in futures:
                f.result()

        statuses = {code for _, code, _ in done}
        assert statuses <= {201, 503}, statuses  # durable-first; never a 500 or a half-written case
        for _, code, body in done:
            if code == 503:
                assert body["error"]["code"], body
        accepted = {f"burst-{i}" for i, code, _ in done if code == 201}
        with get_engine().connect() as conn:
            stored = set(conn.execute(text("SELECT external_id FROM \"case\" WHERE channel = 'hotline'")).scalars())
        assert stored == accepted
        assert len(accepted) >= total // 2  # intake kept committing while Redis was down

        # every event committed is relayed once Redis is back, and reaches the board that stayed connected
        def caught_up() -> bool:
            sent, unsent = outbox(board.start_id)
            return unsent == 0 and set(sent) <= board.ids()

        try:
            wait_for(caught_up, "the board to receive every relayed event", timeout=60)
        except AssertionError:
            sent, unsent = outbox(board.start_id)
            raise AssertionError(f"{unsent} unsent; {len(set(sent) - board.ids())} relayed but not received") from None
        # a board that reconnects with its last id after the restart misses nothing either
        late = Board(server.ws_url, op)
        late.last_id = board.events[len(board.events) // 2]["id"]
        late.reconnect(server.ws_url)
        wait_for(lambda: {e["id"] for e in board.events[len(board.events) // 2 + 1 :]} <= late.ids(), "the replay")

        # and the cases that waited for Redis were dispatched by the sweeper
        def none_waiting() -> bool:
            with get_engine().connect() as conn:  # closed each time: a leaked one would block the next TRUNCATE
                return conn.execute(text("SELECT 1 FROM \"case\" WHERE status = 'new'")).first() is None

        wait_for(none_waiting, "the waiting cases to be dispatched")
        board.close()
        late.close()


# ---- 3. one of two API processes killed under connected boards --------------------------------------------


@services_only
def test_boards_reconnect_to_the_other_api_process_and_miss_nothing(env):
    a, url_a = api_process("api-a")
    b, url_b = api_process("api-b")
    try:
        with httpx.Client(base_url=url_b, timeout=30) as api:
            op = user_token(api, "operator")
            key = api_key()
            v = village(api, op)
            create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], capacity=100)

            def intake(name: str) -> int:
                body = {"external_id": name, "content": "占道经营", "lat": v["lat"], "lon": v["lon"]}
                res = api.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)
                assert res.status_code == 201, res.text
                return res.json()["id"]

            board = Board(url_a.replace("http", "ws"), op)
            before = [intake(f"two-{i}") for i in range(3)]
            wait_for(lambda: {e["case"]["id"] for e in board.events if "case" in e} >= set(before), "live events")
            a.kill()  # SIGKILL: no goodbye to the sockets
            wait_for(board.closed.is_set, "the board to notice")
            during = [intake(f"two-gap-{i}") for i in range(5)]  # emitted through B while the board is away
            board.reconnect(url_b.replace("http", "ws"))
            after = [intake(f"two-after-{i}") for i in range(2)]

            def complete() -> bool:
                sent, unsent = outbox(board.start_id)
                return unsent == 0 and set(sent) <= board.ids()

            wait_for(complete, "the board to have every event of the outbox", timeout=30)
            got = [e["id"] for e in board.events]
            assert len(got) == len(set(got))  # the replay did not repeat what the board had
            seen_cases = {e["case"]["id"] for e in board.events if "case" in e}
            assert set(before + during + after) <= seen_cases
    finally:
        a.stop()
        b.stop()


# ---- 4. the hotline feed repeats and reorders itself ----------------------------------------------------


def test_duplicated_and_reordered_hotline_messages_make_one_case_in_its_latest_state(api, server):
    op = user_token(api, "operator")
    key = api_key()
    v = village(api, op)
    member = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    base = {"external_id": "WO-7", "lat": v["lat"], "lon": v["lon"], "caller_phone": "13800001111"}
    revisions = {
        1: base | {"content": "小区门口积水", "version": 1},
        2: base | {"content": "小区门口积水，已影响通行", "version": 2},
        3: base | {"content": "小区门口积水严重，老人无法出门", "version": 3, "caller_name": "王女士"},
    }

    def post(body: dict) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post("/api/intake/hotline", headers={"X-API-Key": key}, json=body)

    first = post(revisions[2])  # an update arrives before the creation
    assert first.status_code == 201, first.text
    case_id = first.json()["id"]
    with ThreadPoolExecutor(2) as pool:  # the creation, sent twice at once
        racers = list(pool.map(post, [revisions[1], revisions[1]]))
    assert [r.status_code for r in racers] == [200, 200]
    assert {r.json()["id"] for r in racers} == {case_id}
    assert post(revisions[3]).status_code == 200
    assert post(revisions[2]).status_code == 200  # late and older: ignored
    case = case_of(op, api, case_id)
    assert (case["content"], case["reporter_name"]) == (revisions[3]["content"], "王女士")
    assert (case["status"], case["offered_to"]) == ("offered", member["id"])

    closed = post(base | {"content": "已由热线直接答复", "version": 4, "platform_status": "closed"})
    assert closed.status_code == 200 and closed.json()["status"] == "cancelled"
    assert post(revisions[3]).status_code == 200  # a re-sent older revision does not reopen it
    case = case_of(op, api, case_id)
    assert (case["status"], case["offered_to"], case["content"]) == ("cancelled", None, "已由热线直接答复")
    listed = api.get("/api/cases", params={"channel": "hotline"}, headers=auth(op)).json()
    assert [c["id"] for c in listed if c["external_id"] == "WO-7"] == [case_id]
    # the member's slot was given back: a new case is offered to them
    again = post({"external_id": "WO-8", "content": "路灯不亮", "lat": v["lat"], "lon": v["lon"]})
    assert case_of(op, api, again.json()["id"])["offered_to"] == member["id"]

    # closed on the platform before we ever saw it open: recorded, never dispatched
    gone = post(
        {
            "external_id": "WO-9",
            "content": "噪音扰民",
            "lat": v["lat"],
            "lon": v["lon"],
            "version": 2,
            "platform_status": "closed",
        }
    )
    assert gone.status_code == 201 and gone.json()["status"] == "cancelled"
    assert (
        post({"external_id": "WO-9", "content": "噪音扰民", "lat": v["lat"], "lon": v["lon"], "version": 1}).json()[
            "status"
        ]
        == "cancelled"
    )
    actions = [e["action"] for e in api.get(f"/api/cases/{gone.json()['id']}/events", headers=auth(op)).json()]
    assert actions == ["created", "cancelled"]
