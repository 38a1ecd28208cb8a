"""Live events: replay after a reconnect, durability through a Redis outage, roles on the sockets."""

from __future__ import annotations

import base64
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import api_key, auth, board, create_member, recv, recv_until, user_token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def hotline(api, external_id: str, lat: float | None = None, lon: float | None = None):
    body = {"external_id": external_id, "content": "楼道灯不亮"}
    if lat is not None:
        body |= {"lat": lat, "lon": lon}
    res = api.post("/api/intake/hotline", headers={"X-API-Key": api_key()}, json=body)
    assert res.status_code == 201, res.text
    return res.json()


def test_a_board_that_missed_three_events_gets_exactly_those_on_reconnect(api, server):
    op = user_token(api, "operator")
    member = create_member(api, op, level="district", lat=33.30, lon=120.10, capacity=0)
    with board(server, op) as ws:
        first = hotline(api, "r-1")  # no location: created, then escalated
        seen = recv_until(ws, 2, types=("case.created", "case.escalated"))
        assert [e["type"] for e in seen] == ["case.created", "case.escalated"]
        last_id = seen[-1]["id"]

    second = hotline(api, "r-2")  # two events...
    res = api.put(f"/api/members/{member['id']}/position", json={"lat": 33.31, "lon": 120.11}, headers=auth(op))
    assert res.status_code == 200  # ...and a third

    with board(server, op, last_event_id=last_id) as ws:
        missed = [recv(ws) for _ in range(3)]
        assert [(e["type"], (e.get("case") or e.get("member"))["id"]) for e in missed] == [
            ("case.created", second["id"]),
            ("case.escalated", second["id"]),
            ("member.position", member["id"]),
        ]
        assert all(e["id"] > last_id for e in missed)
        # nothing else was replayed: the next message is a new live event
        third = hotline(api, "r-3")
        nxt = recv(ws)
        assert (nxt["type"], nxt["case"]["id"]) == ("case.created", third["id"])
        assert first["id"] not in {e["case"]["id"] for e in missed if "case" in e}


def test_board_filtered_by_town_sees_only_that_town(api, server):
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    a, b = villages[0], next(v for v in villages if v["parent_code"] != villages[0]["parent_code"])
    with board(server, op, town_code=b["parent_code"]) as ws:
        hotline(api, "f-1", a["lat"], a["lon"])
        mine = hotline(api, "f-2", b["lat"], b["lon"])
        ev = recv_until(ws, 1, types=("case.created",))[0]
        assert ev["case"]["id"] == mine["id"] and ev["case"]["town_code"] == b["parent_code"]


def test_sockets_check_roles(api, server):
    op = user_token(api, "operator")
    sup = user_token(api, "supervisor")
    m = create_member(api, op, level="district", lat=33.3, lon=120.1)
    member_tok = user_token(api, "member", "mem", member_id=m["id"])
    for url in (f"/ws/board?token={member_tok}", "/ws/board", "/ws/board?token=forged.token", f"/ws/member?token={op}"):
        with pytest.raises(InvalidStatus) as exc:
            connect(server.ws_url + url, open_timeout=10)
        assert exc.value.response.status_code == 403
    with board(server, sup):
        pass


def test_a_member_socket_carries_only_that_members_cases(api, server):
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v, w = villages[0], villages[-1]
    mine = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    other = create_member(api, op, town_code=w["parent_code"], lat=w["lat"], lon=w["lon"])
    tok = user_token(api, "member", "mine", member_id=mine["id"])
    with connect(f"{server.ws_url}/ws/member?token={tok}", open_timeout=10) as ws:
        theirs = hotline(api, "ms-1", w["lat"], w["lon"])
        ours = hotline(api, "ms-2", v["lat"], v["lon"])
        ev = recv_until(ws, 1)[0]
        assert (ev["type"], ev["case"]["id"], ev["case"]["offered_to"]) == ("case.offered", ours["id"], mine["id"])
        assert ev["case"]["reporter_phone"] is None or "*" in ev["case"]["reporter_phone"]
        # the other member's case is invisible to this member through the API too
        assert api.get(f"/api/cases/{theirs['id']}", headers=auth(tok)).status_code == 404
        assert other["id"] != mine["id"]


@pytest.mark.settings(sweep_interval_s=0.5, relay_interval_s=0.2)
def test_intake_commits_while_redis_is_down_and_events_follow_when_it_returns(outage, api, server):
    cut, restore = outage
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = villages[3]
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    with board(server, op) as ws:
        cut()
        made = [hotline(api, f"out-{i}", v["lat"], v["lon"] + i * 1e-4) for i in range(3)]
        assert [c["status"] for c in made] == ["new"] * 3  # committed; dispatch waits for Redis
        for c in made:
            assert api.get(f"/api/cases/{c['id']}", headers=auth(op)).json()["status"] == "new"
        restore()
        events = recv_until(ws, 3, types=("case.created",), timeout=20)
        assert sorted(e["case"]["id"] for e in events) == sorted(c["id"] for c in made)
        # the sweeper dispatches the waiting cases once Redis is back (the member has capacity 3)
        offered = recv_until(ws, 3, types=("case.offered",), timeout=20)
        assert sorted(e["case"]["id"] for e in offered) == sorted(c["id"] for c in made)
        assert {e["case"]["offered_to"] for e in offered} == {m["id"]}
        for c in made:
            assert api.get(f"/api/cases/{c['id']}", headers=auth(op)).json()["status"] == "offered"


class StalledClient:
    """A websocket client that completes the handshake and then stops reading (a stuck phone, a frozen tab)."""

    def __init__(self, ws_url: str, path: str) -> None:
        host, port = ws_url.removeprefix("ws://").split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connect: a tiny window
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(1)
        assert self.buf.startswith(b"HTTP/1.1 101"), self.buf
        self.buf = b""

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frames_until_close(self) -> tuple[int, int | None]:
        """Read what the server sent: (text frames, close code), close code None if the TCP stream just ended."""
        self.sock.settimeout(15)
        texts = 0
        try:
            while True:
                head = self._read(2)
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    length = int.from_bytes(self._read(2), "big")
                elif length == 127:
                    length = int.from_bytes(self._read(8), "big")
                payload = self._read(length)
                if opcode == 0x8:
                    return texts, int.from_bytes(payload[:2], "big")
                texts += opcode == 0x1
        except EOFError:
            return texts, None


@pytest.mark.settings(socket_queue_size=100, socket_buffer_bytes=64 * 1024)
def test_a_slow_board_is_cut_loose_and_never_stalls_the_others(api, server):
    op = user_token(api, "operator")
    with board(server, op) as fast:
        stalled = StalledClient(server.ws_url, f"/ws/board?token={op}")
        assert recv(fast)["type"] == "hello"
        batch = [{"external_id": f"slow-{i}", "content": "长" * 200} for i in range(250)]
        with ThreadPoolExecutor(1) as reader:  # the fast board reads all along, as a screen does
            reading = reader.submit(recv_until, fast, 500, timeout=60)
            res = api.post("/api/intake/hotline", headers={"X-API-Key": api_key()}, json=batch)
            assert res.status_code == 207
            ids = [r["body"]["id"] for r in res.json()]
            got = reading.result()  # created + escalated for each: the fast board lost nothing
        assert sorted({e["case"]["id"] for e in got}) == sorted(ids)
        texts, code = stalled.frames_until_close()
        assert texts < 501  # it was cut off before everything reached it: the server did not buffer on
        # ...with 4008 (reconnect with your last id) when the close frame could still be delivered, or by
        # closing the TCP connection when the client stayed stuck past the close timeout
        assert code in (4008, None)


def test_healthz_and_readyz(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_reports_redis_down(outage, api, server):
    cut, restore = outage
    cut()
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["redis"].startswith("error")
    assert ready.json()["error"]["code"] == "dependency_unavailable"
    restore()
    assert api.get("/readyz").status_code == 200


def test_a_retried_relay_pass_adds_nothing_twice_and_its_memory_of_rows_stays_bounded(api, monkeypatch):
    """A relay pass whose database commit failed runs again: the rows it already added keep their stream ids
    (no duplicate on any board), a row id reused for another event is not mistaken for it, and what the relay
    remembers is capped, so Redis memory does not grow."""
    from dispatch.broker import get_broker
    from dispatch.events import relay

    r = get_broker().r
    key = "test:relay-stream"
    first = relay.xadd_once(r, key, 1000, [(1, '{"n":1}'), (2, '{"n":2}')])
    again = relay.xadd_once(r, key, 1000, [(1, '{"n":1}'), (2, '{"n":2}'), (3, '{"n":3}')])
    assert again[:2] == first and again[2] not in first
    assert [fields["data"] for _, fields in r.xrange(key)] == ['{"n":1}', '{"n":2}', '{"n":3}']

    # a row id used again for another event (a restored or truncated database) gets its own entry
    r.delete(key)
    reused = relay.xadd_once(r, key, 1000, [(2, '{"n":"two again"}')])
    assert reused[0] != first[1] and [fields["data"] for _, fields in r.xrange(key)] == ['{"n":"two again"}']
    assert relay.xadd_once(r, key, 1000, [(2, '{"n":"two again"}')]) == reused  # a retry: remembered in turn
    other = relay.xadd_once(r, key, 1000, [(2, '{"n":"two, third time"}')])  # its entry there, another payload
    assert other != reused and r.xlen(key) == 2

    monkeypatch.setattr(relay, "RELAYED_KEEP", 50)
    relay.xadd_once(r, key, 1000, [(row, "{}") for row in range(4, 204)])
    assert r.zcard(f"{key}:relayed") == 50
    assert r.xlen(key) == 202


def test_events_within_the_fanout_interval_reach_a_socket_in_one_pass(env):
    """A quiet hub hands the next event on by itself; events that follow within the interval go out together."""
    import asyncio
    import json
    import threading

    from procs import wait_for

    from dispatch.broker import get_broker
    from dispatch.events.hub import Hub

    broker, key = get_broker(), "test:fanout-interval"
    hub = Hub(broker, key, interval=5.0)
    passes: list[list[int]] = []
    arrived = threading.Event()

    class Socket:  # what the hub sees of a live board
        def offer_batch(self, events, shared=None):
            passes.append([e["n"] for e in events])
            arrived.set()

    def add(n: int) -> str:  # one XADD each, as separately relayed commits would be
        return broker.r.xadd(key, {"data": json.dumps({"n": n})})

    loop = asyncio.new_event_loop()  # the server's loop, in a thread of its own
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    hub.connections.add(Socket())
    hub.start(loop)
    try:
        wait_for(lambda: hub.last_seen, "the stream reader")
        first = add(1)
        assert arrived.wait(30)
        arrived.clear()
        add(2)
        assert not arrived.wait(1)  # a reader without the interval would hand 2 on alone, at once
        assert hub.last_seen == first  # within the interval the reader has not even read it
        add(3)
        add(4)
        assert arrived.wait(30)
        assert passes == [[1], [2, 3, 4]]
    finally:
        hub.request_stop()
        hub.join()
        loop.call_soon_threadsafe(loop.stop)
        serving.join(10)
        loop.close()
        broker.r.delete(key)


def test_boards_with_the_same_filter_share_one_pass_over_a_live_batch():
    """A thousand boards of one scope cost one filtering per batch; each socket still gets exactly its events."""
    from collections import Counter

    from dispatch.events.hub import Connection, Hub, frame, id_key

    class Writer:  # a live socket's transport
        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes) -> bool:
            self.data += data
            return True

        def backlog(self) -> int:
            return 0

    calls: Counter = Counter()

    def town(code):
        def accepts(event):
            calls[code] += 1
            return code is None or event["route"]["town_code"] == code

        return accepts

    events = [
        {"id": f"1-{i}", "type": "case.created", "route": {"town_code": "T1" if i % 2 else "T2"}, "n": i}
        for i in range(10)
    ]
    hub = Hub(broker=None, stream_key="unused")  # type: ignore[arg-type]
    everything = [Connection(town(None), 10, Writer(), 1 << 20, key=("board", None)) for _ in range(50)]
    t1 = [Connection(town("T1"), 10, Writer(), 1 << 20, key=("board", "T1")) for _ in range(50)]
    reconnected = Connection(town(None), 10, Writer(), 1 << 20, key=("board", None))
    reconnected.replayed_upto = id_key("1-4")  # its replay already sent events 0..4
    for conn in [*everything, *t1, reconnected]:
        conn.go_direct()
        hub.connections.add(conn)

    hub._fan_out(events)

    assert calls == {None: 10 + 5, "T1": 10}  # once per scope, plus the reconnected socket's own pass
    assert {c.writer.data for c in everything} == {b"".join(frame(e) for e in events)}
    assert {c.writer.data for c in t1} == {b"".join(frame(e) for e in events if e["n"] % 2)}
    assert reconnected.writer.data == b"".join(frame(e) for e in events[5:])
