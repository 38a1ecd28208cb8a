"""Sessions end when they should: sign-out, a password change, deactivation, a role change, expiry. The token
then fails on the API, the pages send the browser to sign in, new sockets are refused and open ones are closed
(4401) within seconds, in every API process."""

from __future__ import annotations

import os

import httpx
import pytest
from conftest import SERVICES
from helpers import PASSWORD, auth, board, close_code, create_member, member_socket, recv, signed_in, user_token
from procs import api_process, wait_for
from sqlmodel import Session, func, select
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from dispatch.auth.models import AuthSession
from dispatch.db import get_engine

SESSION_ENDED = 4401
CLOSE_WITHIN_S = 8  # the default re-check every 2 s, with room for a loaded machine


def cookie_socket(server, cookie: str):
    return connect(f"{server.ws_url}/ws/board", additional_headers={"Cookie": f"sl_session={cookie}"}, open_timeout=10)


def assert_dead(server, api: httpx.Client, token: str, page: str = "/board", path: str = "/ws/board") -> None:
    """The token opens nothing any more: API 401, the page redirects to sign-in, a new socket is refused."""
    assert api.get("/api/auth/me", headers=auth(token)).status_code == 401
    res = api.get(page, headers={"Cookie": f"sl_session={token}"})
    assert res.status_code == 303 and res.headers["location"] == f"/login?next={page}"
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.ws_url}{path}?token={token}", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_sign_out_ends_that_session_everywhere_and_no_other(api, server):
    user_token(api, "operator", "op")
    bearer = api.post("/api/auth/token", json={"username": "op", "password": PASSWORD}).json()["access_token"]
    with signed_in(server, "op") as page:
        cookie = page.cookies.get("sl_session")
        assert page.get("/board").status_code == 200
        by_cookie, by_bearer = cookie_socket(server, cookie), board(server, bearer)
        assert recv(by_cookie)["type"] == "hello" and recv(by_bearer)["type"] == "hello"
        res = page.post("/logout")
        assert res.status_code == 303 and res.headers["location"] == "/login"
    assert close_code(by_cookie, CLOSE_WITHIN_S) == SESSION_ENDED
    assert_dead(server, api, cookie)  # a copy of the cookie kept by an attacker is worth nothing now
    # the same account's other session (another device) is untouched
    assert api.get("/api/auth/me", headers=auth(bearer)).json()["username"] == "op"
    by_bearer.send("ping")
    assert by_bearer.recv(timeout=10) == "pong"

    # bearer clients sign out through the API
    res = api.post("/api/auth/logout", headers=auth(bearer))
    assert res.status_code == 204
    assert close_code(by_bearer, CLOSE_WITHIN_S) == SESSION_ENDED
    assert_dead(server, api, bearer)
    assert api.post("/api/auth/logout", headers=auth(bearer)).status_code == 401


@pytest.mark.parametrize(
    "change",
    [{"password": "a-whole-new-secret-7"}, {"active": False}, {"role": "supervisor"}],
    ids=["password", "deactivation", "role"],
)
def test_an_account_change_ends_every_session_of_the_account(api, server, change):
    admin = user_token(api, "admin", "root")
    op = user_token(api, "operator", "op")
    uid = api.get("/api/auth/me", headers=auth(op)).json()["id"]
    with signed_in(server, "op") as page:
        cookie = page.cookies.get("sl_session")
    sockets = [board(server, op), cookie_socket(server, cookie)]
    for ws in sockets:
        assert recv(ws)["type"] == "hello"
    other = user_token(api, "operator", "op2")  # someone else's session stays
    bystander = board(server, other)
    assert recv(bystander)["type"] == "hello"

    res = api.patch(f"/api/users/{uid}", json=change, headers=auth(admin))
    assert res.status_code == 200, res.text
    for ws in sockets:
        assert close_code(ws, CLOSE_WITHIN_S) == SESSION_ENDED
    for token in (op, cookie):
        assert_dead(server, api, token)
    bystander.send("ping")
    assert bystander.recv(timeout=10) == "pong"
    assert api.get("/api/auth/me", headers=auth(admin)).status_code == 200
    # a fresh sign-in gets the new terms (deactivated: none)
    res = api.post("/api/auth/token", json={"username": "op", "password": change.get("password", PASSWORD)})
    if change.get("active") is False:
        assert res.status_code == 401
    else:
        assert res.status_code == 200
        assert res.json()["role"] == change.get("role", "operator")
    # a reactivated account does not bring its old tokens back
    if change.get("active") is False:
        assert api.patch(f"/api/users/{uid}", json={"active": True}, headers=auth(admin)).status_code == 200
        assert api.get("/api/auth/me", headers=auth(op)).status_code == 401


def test_a_member_socket_closes_when_the_member_signs_out_or_is_reset(api, server):
    admin = user_token(api, "admin", "root")
    m = create_member(api, admin, level="district", lat=33.3, lon=120.1)
    phone = user_token(api, "member", "mem", member_id=m["id"])
    tablet = api.post("/api/auth/token", json={"username": "mem", "password": PASSWORD}).json()["access_token"]
    uid = api.get("/api/auth/me", headers=auth(phone)).json()["id"]
    on_phone, on_tablet = member_socket(server, phone), member_socket(server, tablet)
    assert recv(on_phone)["type"] == "hello" and recv(on_tablet)["type"] == "hello"
    assert api.post("/api/auth/logout", headers=auth(phone)).status_code == 204
    assert close_code(on_phone, CLOSE_WITHIN_S) == SESSION_ENDED
    assert_dead(server, api, phone, page="/m", path="/ws/member")
    on_tablet.send("ping")
    assert on_tablet.recv(timeout=10) == "pong"
    res = api.patch(f"/api/users/{uid}", json={"password": "fresh-river-stone-4"}, headers=auth(admin))
    assert res.status_code == 200
    assert close_code(on_tablet, CLOSE_WITHIN_S) == SESSION_ENDED
    assert_dead(server, api, tablet, page="/m", path="/ws/member")


@pytest.mark.settings(token_ttl_s=4)
def test_open_sockets_close_when_their_token_expires(api, server):
    admin = user_token(api, "admin", "root")
    m = create_member(api, admin, level="district", lat=33.3, lon=120.1)
    member = user_token(api, "member", "mem", member_id=m["id"])
    op = user_token(api, "operator", "op")
    sockets = [board(server, op), member_socket(server, member)]
    for ws in sockets:
        assert recv(ws)["type"] == "hello"
    for ws in sockets:
        assert close_code(ws, 4 + CLOSE_WITHIN_S) == SESSION_ENDED
    assert_dead(server, api, op)
    assert_dead(server, api, member, page="/m", path="/ws/member")


@pytest.mark.settings(token_ttl_s=1, reconcile_interval_s=0.5)
def test_expired_sessions_are_deleted(api, server):
    user_token(api, "operator", "op")

    def count() -> int:
        with Session(get_engine()) as session:
            return session.exec(select(func.count()).select_from(AuthSession)).one()

    wait_for(lambda: count() == 0, "the maintenance loop to delete the expired session", timeout=20)


@pytest.mark.skipif(not SERVICES, reason="two API processes share PostgreSQL + Redis")
def test_a_sign_out_through_one_process_closes_sockets_held_by_another(api, server):
    user_token(api, "operator", "op")
    token = api.post("/api/auth/token", json={"username": "op", "password": PASSWORD}).json()["access_token"]
    other, url = api_process("api-b", {"SHANGLIANG_SECRET_KEY": os.environ["SHANGLIANG_SECRET_KEY"]})
    try:
        ws = connect(f"{url.replace('http', 'ws', 1)}/ws/board?token={token}", open_timeout=10)
        assert recv(ws)["type"] == "hello"
        assert api.post("/api/auth/logout", headers=auth(token)).status_code == 204  # through this process
        assert close_code(ws, CLOSE_WITHIN_S) == SESSION_ENDED  # closed by the other one
        assert httpx.get(f"{url}/api/auth/me", headers=auth(token)).status_code == 401
    finally:
        other.stop()
