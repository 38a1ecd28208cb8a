"""Websocket fan-out: one stream reader per process, and per socket either direct frame writes or a queue.

The reader thread blocks on XREAD and hands batches to the event loop. Under ``shangliang serve`` (the
``shangliang.frames`` extension, ``infra.wsframes``) a live socket gets each batch's frames, encoded once per
process, in one write; a socket whose unsent bytes pass ``buffer_bytes`` is closed (code 4008) instead of
growing the process's memory. Elsewhere a socket has a bounded queue and a sender task; a full queue closes
it the same way. Either way its client reconnects with ``last_event_id`` and misses nothing.

A socket opened with a sign-in session lives only as long as it: a timer closes it (code 4401) when the
session expires, and every ``session_check_s`` one query per process checks the sessions of all its sockets
against the database (revoked by sign-out, a password or role change, deactivation: in any process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, cast

from fastapi import WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from dispatch.broker import Broker
from dispatch.events.relay import start_background, stop_background
from dispatch.infra.wsframes import EXTENSION, FrameWriter, text_frame
from dispatch.observability.metrics import WEBSOCKET_CLIENTS, socket_kind

log = logging.getLogger(__name__)
# stream entries as the decoding clients return them (redis-py types them for either kind of client)
Entries = list[tuple[str, dict[str, str]]]

EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
CLOSE_SLOW = 4008
CLOSE_SESSION_ENDED = 4401  # the page signs in again instead of reconnecting

Filter = Callable[[dict[str, Any]], bool]
# which of these sign-in sessions still hold (blocking: run in a worker thread); given by the app factory, so
# this infrastructure layer does not know about accounts
SessionCheck = Callable[[set[str]], set[str]]


def _all_alive(digests: set[str]) -> set[str]:
    return digests


def id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def decode_entry(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    body = json.loads(fields["data"])
    return {"id": entry_id, **body}


def _public_key(key: str) -> bool:
    return key != "route" and key != "_wire"


def public(event: dict[str, Any]) -> dict[str, Any]:
    """The message as clients see it: routing hints removed."""
    return {k: v for k, v in event.items() if _public_key(k)}


def wire(event: dict[str, Any]) -> str:
    """The message's text, serialised once per process however many sockets receive it."""
    text = event.get("_wire")
    if text is None:
        text = event["_wire"] = json.dumps(public(event), ensure_ascii=False, separators=(",", ":"))
    return text


def frame(event: dict[str, Any]) -> bytes:
    """The message's websocket frame, built once per process."""
    data = event.get("_frame")
    if data is None:
        data = event["_frame"] = text_frame(wire(event).encode())
    return data


class Connection:
    def __init__(
        self,
        accepts: Filter,
        maxsize: int,
        writer: FrameWriter | None,
        buffer_bytes: int,
        session: str | None = None,
        key: Hashable | None = None,
    ) -> None:
        self.accepts = accepts
        # sockets with the same key have the same filter: a live batch's bytes are joined once for all of them
        self.key = key
        self.session = session  # the sign-in session the socket was opened with
        self.ended = asyncio.Event()  # that session was revoked or expired
        self.queue: asyncio.Queue = asyncio.Queue(maxsize)
        self.overflowed = asyncio.Event()
        self.writer = writer  # direct frame writes once live (after any replay)
        self.buffer_bytes = buffer_bytes
        self.direct = False
        # the last event a reconnect's replay sent: the queue and live batches may hold it again
        self.replayed_upto: tuple[int, int] | None = None

    def past_replay(self, event: dict[str, Any]) -> bool:
        """False for an event the replay already sent. The stream is in order: once one is past, all are."""
        if self.replayed_upto is None:
            return True
        if id_key(event["id"]) <= self.replayed_upto:
            return False
        self.replayed_upto = None
        return True

    def offer(self, event: dict[str, Any]) -> None:
        if self.overflowed.is_set() or not self.accepts(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # the sender may be stuck writing to this client: drop its backlog and end the connection
            self.overflow()

    def offer_batch(self, events: list[dict[str, Any]], shared: dict[Hashable, bytes] | None = None) -> None:
        """Hand on a batch. ``shared`` holds this pass's bytes per filter key: a thousand boards that see the
        same events cost one filtering of the batch, not a thousand."""
        if not self.direct:
            for event in events:
                self.offer(event)
            return
        if self.overflowed.is_set():
            return
        if shared is not None and self.key is not None and self.replayed_upto is None:
            data = shared.get(self.key)
            if data is None:
                data = shared[self.key] = b"".join([frame(e) for e in events if self.accepts(e)])
        else:
            data = b"".join([frame(e) for e in events if self.past_replay(e) and self.accepts(e)])
        if data:
            self.write(data)

    def write(self, data: bytes) -> None:
        assert self.writer is not None
        if self.writer.backlog() > self.buffer_bytes:
            self.overflow()  # the client stopped reading: cut it rather than buffer on
        else:
            self.writer.write(data)

    def overflow(self) -> None:
        self.overflowed.set()
        while not self.queue.empty():
            self.queue.get_nowait()

    def go_direct(self) -> None:
        """Send what was queued during the replay, then write live batches directly (no await in between, so
        no event can slip past in the meantime). The stream reader may not have read yet what the replay sent
        (it reads at most once per fan-out interval): live batches skip it until they are past the replay."""
        pending = []
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if self.past_replay(event):
                pending.append(frame(event))
        if pending:
            self.write(b"".join(pending))
        self.direct = True


class Hub:
    def __init__(
        self,
        broker: Broker,
        stream_key: str,
        queue_size: int = 1000,
        buffer_bytes: int = 256 * 1024,
        interval: float = 0.0,
        session_check_s: float = 2.0,
        check_sessions: SessionCheck = _all_alive,
    ) -> None:
        self.broker = broker
        self.stream_key = stream_key
        self.queue_size = queue_size
        self.buffer_bytes = buffer_bytes
        # a batch never fills a socket's queue on its own: only a client that falls behind overflows
        self.read_count = max(1, min(500, queue_size // 2))
        self.connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_seen: str | None = None
        # at most one read (so one pass over the sockets, one write to each) per interval: under a burst, events
        # that arrive within it share a write; after a quiet spell the next event goes out at once
        self.interval = interval
        self.session_check_s = session_check_s
        self.check_sessions = check_sessions
        self._watcher: asyncio.Task | None = None

    # -- reader -------------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:

        self._loop = loop
        start_background()  # this process's commits wake one relay thread instead of relaying inline
        self._thread = threading.Thread(target=self._read_forever, name="stream-reader", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:

        self._stop.set()
        stop_background()
        if self._watcher is not None:
            self._watcher.cancel()

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=5)

    def _read_forever(self) -> None:
        client = self.broker.new_client()
        last: str | None = None
        backoff = 0.2
        next_read = 0.0
        while not self._stop.is_set():
            if (pause := next_read - time.monotonic()) > 0 and self._stop.wait(pause):
                break
            try:
                if last is None:
                    newest = cast(Entries, client.xrevrange(self.stream_key, count=1))
                    last = newest[0][0] if newest else "0-0"
                    self.last_seen = last
                batches = cast(
                    "list[tuple[str, Entries]] | None",
                    client.xread({self.stream_key: last}, block=500, count=self.read_count),
                )
                backoff = 0.2
            except RedisError as exc:
                log.warning("stream reader: redis unavailable (%s); retrying", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for _key, entries in batches or ():
                if not entries:
                    continue
                last = self.last_seen = entries[-1][0]
                next_read = time.monotonic() + self.interval
                if not self.connections:
                    continue  # no socket in this process: nothing to decode
                events = [decode_entry(eid, fields) for eid, fields in entries]
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._fan_out, events)
        client.close()

    def _fan_out(self, events: list[dict[str, Any]]) -> None:
        shared: dict[Hashable, bytes] = {}
        for conn in list(self.connections):
            conn.offer_batch(events, shared)

    # -- sessions -----------------------------------------------------------------------------------

    def _watch(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_sessions())

    async def _watch_sessions(self) -> None:
        """End the sockets whose session no longer holds: one query per pass for all of this process's."""
        while True:
            await asyncio.sleep(self.session_check_s)
            checked = {c.session for c in self.connections if c.session is not None}
            if not checked:
                continue
            try:
                alive = await run_in_threadpool(self.check_sessions, checked)
            except Exception as exc:  # noqa: BLE001 - the database is down: keep the sockets, check again
                log.warning("session check failed (%r); sockets kept until the next check", exc)
                continue
            for conn in list(self.connections):
                if conn.session in checked and conn.session not in alive:
                    conn.ended.set()

    # -- one socket ---------------------------------------------------------------------------------

    def _replay(self, after: str, accepts: Filter) -> tuple[list[dict[str, Any]], bool]:
        """Events after ``after`` that pass the filter, and whether the stream was trimmed past it."""
        client = self.broker.r
        oldest = cast(Entries, client.xrange(self.stream_key, count=1))
        gap = bool(oldest) and id_key(oldest[0][0]) > id_key(after) and after != "0-0"
        out: list[dict[str, Any]] = []
        start = "(" + after
        while True:
            entries = cast(Entries, client.xrange(self.stream_key, min=start, count=1000))
            if not entries:
                break
            for eid, fields in entries:
                event = decode_entry(eid, fields)
                if accepts(event):
                    out.append(event)
            start = "(" + entries[-1][0]
        return out, gap

    async def serve(
        self,
        ws: WebSocket,
        accepts: Filter,
        last_event_id: str | None,
        *,
        key: Hashable | None = None,
        session: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        """Replay what the client missed, then stream live events until it goes away or its session ends.

        ``key`` names the filter: sockets given the same key must be given filters that accept the same events.
        """
        writer = ws.scope.get("extensions", {}).get(EXTENSION)
        conn = Connection(accepts, self.queue_size, writer, self.buffer_bytes, session, key)
        self.connections.add(conn)
        clients = WEBSOCKET_CLIENTS.labels(socket_kind(ws.scope["path"]))
        clients.inc()
        expiry = None
        if session is not None:
            self._watch()
        if expires_at is not None:
            loop = asyncio.get_running_loop()
            expiry = loop.call_at(loop.time() + max(0.0, expires_at - time.time()), conn.ended.set)
        try:
            if last_event_id:
                events, gap = await run_in_threadpool(self._replay, last_event_id, accepts)
                if gap:
                    await ws.send_json({"id": last_event_id, "type": "replay.gap", "at": None})
                for event in events:
                    await ws.send_text(wire(event))
                conn.replayed_upto = id_key(events[-1]["id"]) if events else id_key(last_event_id)
            else:
                await ws.send_json({"id": self.last_seen, "type": "hello", "at": None})
            tasks = set()
            if writer is not None:
                conn.go_direct()
            else:
                tasks.add(asyncio.create_task(self._send(ws, conn)))
            receiver = asyncio.create_task(self._receive(ws))
            overflow = asyncio.create_task(conn.overflowed.wait())
            ended = asyncio.create_task(conn.ended.wait())
            done, pending = await asyncio.wait(tasks | {receiver, overflow, ended}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in done - {overflow, ended}:
                if task.exception() and not isinstance(task.exception(), WebSocketDisconnect | RuntimeError):
                    log.warning("websocket ended: %r", task.exception())
            if overflow in done:
                log.info(
                    "closing a websocket that fell behind (%d events / %d bytes)", self.queue_size, self.buffer_bytes
                )
                # queued behind what the client has not read yet; a dead client is cut by the server's timeouts
                with contextlib.suppress(Exception):  # a client stuck for good is cut when this times out
                    await asyncio.wait_for(
                        ws.close(code=CLOSE_SLOW, reason="too slow; reconnect with last_event_id"), 2
                    )
            elif ended in done:
                conn.overflow()  # nothing more for it: drop what is queued
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(code=CLOSE_SESSION_ENDED, reason="session ended; sign in"), 2)
        finally:
            if expiry is not None:
                expiry.cancel()
            self.connections.discard(conn)
            clients.dec()

    @staticmethod
    async def _send(ws: WebSocket, conn: Connection) -> None:
        while True:
            event = await conn.queue.get()
            if not conn.past_replay(event):
                continue
            await ws.send_text(wire(event))

    @staticmethod
    async def _receive(ws: WebSocket) -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "ping":
                await ws.send_text("pong")
