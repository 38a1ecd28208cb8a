"""Who may reach what: pages, API and websockets; sessions, sign-in throttling and forged requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from helpers import PASSWORD, api_key, auth, create_member, user_token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


@contextmanager
def _session(server, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A browser-like client: signs in through the login form and keeps the session cookie."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        res = client.post("/login", data={"username": username, "password": password, "next": ""})
        assert res.status_code == 303, res.text
        cookie = res.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        yield client


def test_pages_open_only_for_their_roles(api, server):
    op = user_token(api, "operator", "op")
    m = create_member(api, op, level="district", lat=33.3, lon=120.1)
    user_token(api, "member", "mem", member_id=m["id"])
    user_token(api, "supervisor", "sup")
    user_token(api, "admin", "adm")
    anonymous = httpx.Client(base_url=server.url)
    for path in ("/board", "/inspect", "/admin", "/m"):
        res = anonymous.get(path)
        assert res.status_code == 303 and res.headers["location"].startswith("/login?next=")
    expected = {
        "op": {"/board": 200, "/inspect": 200, "/admin": 403, "/m": 403},
        "sup": {"/board": 200, "/inspect": 200, "/admin": 403, "/m": 403},
        "mem": {"/board": 403, "/inspect": 403, "/admin": 403, "/m": 200},
        "adm": {"/board": 200, "/inspect": 200, "/admin": 200, "/m": 200},
    }
    for username, table in expected.items():
        with _session(server, username) as client:
            got = {path: client.get(path).status_code for path in table}
            assert got == table, username
            home = client.get("/")
            assert home.status_code == 303


def test_the_session_cookie_works_for_the_api_and_sockets_but_not_for_forged_writes(api, server):
    op = user_token(api, "operator", "op")
    with _session(server, "op") as browser:
        me = browser.get("/api/auth/me").json()
        assert (me["username"], me["role"]) == ("op", "operator")
        body = {"content": "来电：路灯不亮", "lat": 33.3, "lon": 120.1}
        forged = browser.post("/api/cases", json=body)  # what a cross-site form could send: no custom header
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_required"
        ok = browser.post("/api/cases", json=body, headers={"X-Requested-With": "shangliang"})
        assert ok.status_code == 201
        cookie = browser.cookies.get("sl_session")
    headers = {"Cookie": f"sl_session={cookie}"}
    with connect(f"{server.ws_url}/ws/board", additional_headers=headers, open_timeout=10) as ws:
        assert '"hello"' in ws.recv(timeout=10)
    with pytest.raises(InvalidStatus) as exc:  # the same cookie from another site's page
        connect(f"{server.ws_url}/ws/board", additional_headers=headers, origin="https://evil.example", open_timeout=10)
    assert exc.value.response.status_code == 403
    assert api.get("/api/auth/me", headers=auth(op)).json()["role"] == "operator"


def test_sign_out_ends_the_page_session(api, server):
    user_token(api, "operator", "op")
    with _session(server, "op") as browser:
        assert browser.get("/board").status_code == 200
        res = browser.post("/logout")
        assert res.status_code == 303 and "sl_session=" in res.headers["set-cookie"]
        browser.cookies.clear()
        assert browser.get("/board").status_code == 303


def test_repeated_wrong_passwords_are_throttled(api, server):
    user_token(api, "operator", "op")
    for _ in range(5):
        res = api.post("/api/auth/token", json={"username": "op", "password": "wrong-password"})
        assert res.status_code == 401 and res.json()["error"]["code"] == "invalid_credentials"
    res = api.post("/api/auth/token", json={"username": "op", "password": PASSWORD})
    assert res.status_code == 429  # even the right password waits now
    assert res.json()["error"]["code"] == "too_many_attempts" and int(res.headers["retry-after"]) > 0
    page = httpx.post(f"{server.url}/login", data={"username": "op", "password": PASSWORD})
    assert page.status_code == 429 and "Retry-After" in page.headers
    # another account from the same address is not locked out by op's failures
    user_token(api, "supervisor", "sup")


def test_open_redirects_are_refused_after_sign_in(api, server):
    user_token(api, "operator", "op")
    client = httpx.Client(base_url=server.url)
    res = client.post("/login", data={"username": "op", "password": PASSWORD, "next": "//evil.example/x"})
    assert res.status_code == 303 and res.headers["location"] == "/board"


def test_members_and_residents_see_only_their_own_cases(api, server):
    op = user_token(api, "operator", "op")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    a, b = villages[0], villages[-1]
    ma = create_member(api, op, town_code=a["parent_code"], lat=a["lat"], lon=a["lon"])
    mb = create_member(api, op, town_code=b["parent_code"], lat=b["lat"], lon=b["lon"])
    ta = user_token(api, "member", "ma", member_id=ma["id"])
    key = {"X-API-Key": api_key()}
    theirs = api.post(
        "/api/intake/hotline",
        headers=key,
        json={"external_id": "own-1", "content": "他人的案件", "lat": b["lat"], "lon": b["lon"]},
    ).json()
    assert api.get(f"/api/cases/{theirs['id']}", headers=auth(ta)).status_code == 404
    assert api.get(f"/api/cases/{theirs['id']}/events", headers=auth(ta)).status_code == 404
    assert api.post(f"/api/cases/{theirs['id']}/accept", headers=auth(ta)).status_code == 403
    assert [c["id"] for c in api.get("/api/cases", headers=auth(ta)).json()] == []
    assert api.get(f"/api/members/{mb['id']}", headers=auth(ta)).status_code == 403
    # a resident needs the secret, and one secret opens one case only
    phone = api.post("/api/cases", headers=auth(op), json={"content": "来电", "lat": a["lat"], "lon": a["lon"]}).json()
    assert api.get(f"/api/track/{phone['tracking_no']}").status_code == 404
    assert api.get(f"/api/track/{theirs['tracking_no']}", params={"secret": phone["secret"]}).status_code == 404
    assert api.get(f"/api/track/{phone['tracking_no']}", params={"secret": phone["secret"]}).status_code == 200
