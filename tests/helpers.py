"""Small helpers the tests share: accounts, members, intake calls, and reading websocket events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dispatch import clock
from dispatch.auth.service import create_api_key, create_user
from dispatch.db import get_engine

PASSWORD = "correct-horse-battery"


def user_token(api: httpx.Client, role: str, username: str | None = None, member_id: int | None = None) -> str:
    username = username or f"{role}{member_id or ''}"
    with Session(get_engine()) as session:
        create_user(session, username, PASSWORD, role, member_id)
        session.commit()
    res = api.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return res.json()["access_token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(scopes: str = "hotline,mail") -> str:
    with Session(get_engine()) as session:
        _, raw = create_api_key(session, "test platform", scopes)
        session.commit()
    return raw


def create_member(api: httpx.Client, token: str, **fields: Any) -> dict:
    body = {"name": "委员", "level": "town", "capacity": 3, "on_duty": True, "categories": []} | fields
    res = api.post("/api/members", json=body, headers=auth(token))
    assert res.status_code == 201, res.text
    return res.json()


def board(server, token: str, **params: str) -> ClientConnection:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return connect(f"{server.ws_url}/ws/board?{query}", open_timeout=10)


def member_socket(server, token: str, **params: str) -> ClientConnection:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return connect(f"{server.ws_url}/ws/member?{query}", open_timeout=10)


def close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read (and drop) what the server sends until it closes the socket; the close code it gave. Fails if the
    socket is still open after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the socket was still open after {timeout:.0f} s")
        try:
            ws.recv(timeout=left)
        except TimeoutError:
            continue
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_claims(token: str) -> dict:
    body = token.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def forge(claims: dict, key: str) -> str:
    """A token as an attacker holding ``key`` would make it: base64url(JSON) . base64url(HMAC-SHA256)."""
    body = b64(json.dumps(claims).encode())
    return f"{body}.{b64(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest())}"


def recv(ws: ClientConnection, timeout: float = 10) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(
    ws: ClientConnection,
    n: int,
    *,
    types: tuple[str, ...] | None = None,
    case_id: int | None = None,
    actions: tuple[str, ...] | None = None,
    timeout: float = 10,
) -> list[dict]:
    """The next ``n`` events (of ``types`` / about ``case_id`` / with one of ``actions`` when given), skipping
    protocol messages."""
    out: list[dict] = []
    while len(out) < n:
        msg = recv(ws, timeout)
        if msg["type"] in ("hello", "replay.gap"):
            continue
        if types and msg["type"] not in types:
            continue
        if case_id is not None and msg.get("case", {}).get("id") != case_id:
            continue
        if actions and msg.get("action") not in actions:
            continue
        out.append(msg)
    return out


def decode(image) -> str:
    """OpenCV's QR decoders, the classic one and the ArUco-based one, each at full size and downscaled: the
    classic one alone misreads about one clean render in two hundred at every scale (OpenCV 5), and a
    reader that fails on a good code would make a test fail for nothing."""
    import cv2

    detectors = (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco())
    for scale in (1.0, 0.5, 0.25):
        img = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for detector in detectors:
            text, _, _ = detector.detectAndDecode(img)
            if text:
                return text
    return ""


def decode_png(data: bytes) -> str:
    import cv2
    import numpy as np

    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return decode(image)


def capture_jobs(monkeypatch, job: str) -> list[tuple]:
    """RQ jobs named ``job`` captured instead of enqueued, as (at, job, args, job_id), at the one place every
    schedule goes through (``broker.schedule_many``: after the commit for a transaction's jobs). Other jobs
    are scheduled as usual."""
    from dispatch import broker

    calls: list[tuple] = []
    real = broker.schedule_many

    def schedule_many(planned: list) -> bool:
        calls.extend((at, name, args, job_id) for at, name, args, job_id, _ in planned if name == job)
        rest = [p for p in planned if p[1] != job]
        return real(rest) if rest else True

    monkeypatch.setattr(broker, "schedule_many", schedule_many)
    return calls


def point_token(api: httpx.Client, token: str) -> str:
    """A new service point in the first village; its QR token."""
    village = api.get("/api/regions", params={"level": "village"}, headers=auth(token)).json()[0]
    res = api.post(
        "/api/points",
        headers=auth(token),
        json={"name": "议事室", "kind": "consultation_room", "village_code": village["code"]},
    )
    assert res.status_code == 201, res.text
    return res.json()["qr_token"]


@contextmanager
def signed_in(server, username: str) -> Iterator[httpx.Client]:
    """A client signed in through the login form, as a browser is: it keeps the session cookie."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        res = client.post("/login", data={"username": username, "password": PASSWORD})
        assert res.status_code == 303, res.text
        yield client


class Clock:
    """The frozen ``dispatch.clock``: ``at`` is its "now"; set it to move time."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


def freeze_clock(monkeypatch, at: datetime) -> Clock:
    """Freeze the one clock of the rules (ladder, callbacks, sends) at ``at`` for this test; the server runs in
    this process, so it sees the same time."""
    frozen = Clock(at)
    monkeypatch.setattr(clock, "now", frozen)
    return frozen
