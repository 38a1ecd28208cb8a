"""The database down (conftest ``db_outage``: PostgreSQL behind a cut proxy, or SQLite locked by another
connection): every door answers 503 ``database_unavailable`` with Retry-After — JSON in the error shape for the
API, the GeoReport error list for Open311, the error page for a browser, close code 1013 for a socket — never a
plain 500; and once the database is back the same calls succeed, without restarting anything."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import httpx
import pytest
from helpers import PASSWORD, api_key, auth, board, create_member, recv, recv_until, user_token
from websockets.exceptions import ConnectionClosed

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # a browser navigating
PHONE = "13812345678"


def mail(tag: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "zhang.dama@example.cn"
    msg["To"] = "xinxiang@yandu.gov.cn"
    msg["Subject"] = "小区路灯不亮"
    msg["Message-ID"] = f"<outage-{tag}@example.cn>"
    msg.set_content("小区门口的路灯坏了一个星期。")
    return bytes(msg)


def assert_json_503(res: httpx.Response, what: str) -> None:
    assert res.status_code == 503, f"{what}: {res.status_code} {res.text[:300]}"
    assert res.headers["content-type"].startswith("application/json"), what
    err = res.json()["error"]
    assert err["code"] == "database_unavailable", (what, err)
    assert " / " in err["message"], err
    assert int(res.headers["retry-after"]) > 0, what


def assert_page_503(res: httpx.Response, what: str) -> None:
    assert res.status_code == 503, f"{what}: {res.status_code} {res.text[:300]}"
    assert res.headers["content-type"].startswith("text/html"), what
    assert res.headers["x-error-code"] == "database_unavailable", what
    assert 'data-error-code="database_unavailable"' in res.text, what
    assert int(res.headers["retry-after"]) > 0, what


def assert_open311_503(res: httpx.Response, what: str) -> None:
    assert res.status_code == 503, f"{what}: {res.status_code} {res.text[:300]}"
    errors = res.json()
    assert isinstance(errors, list) and errors[0]["code"] == 503 and errors[0]["description"], errors
    assert int(res.headers["retry-after"]) > 0, what


@pytest.fixture
def world(api):
    """Everything the calls need, made while the database is up."""
    op = user_token(api, "operator")
    key = api_key("hotline,mail,open311")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[10]
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], phone="13900001111")
    member = user_token(api, "member", "m", member_id=m["id"])
    point = api.post(
        "/api/points",
        headers=auth(op),
        json={"name": "村民议事室", "kind": "consultation_room", "village_code": v["code"]},
    )
    assert point.status_code == 201, point.text
    call = {"content": "楼上漏水", "caller_phone": PHONE, "lat": v["lat"], "lon": v["lon"]}
    case = api.post("/api/cases", json=call, headers=auth(op)).json()
    assert api.post(f"/api/cases/{case['id']}/accept", headers=auth(member)).status_code == 200
    assert (
        api.post(f"/api/cases/{case['id']}/resolve", json={"note": "已维修"}, headers=auth(member)).status_code == 200
    )
    login = api.post("/login", data={"username": "operator", "password": PASSWORD}, follow_redirects=False)
    assert login.status_code == 303, login.text
    api.cookies.clear()  # the board page gets it explicitly; the API calls go without
    return {
        "op": op,
        "key": {"X-API-Key": key},
        "raw_key": key,
        "village": v,
        "qr": point.json()["qr_token"],
        "case": case,
        "cookie": login.cookies["sl_session"],
    }


def calls(api: httpx.Client, w: dict, round_: str) -> dict[str, tuple[str, object]]:
    """name -> (kind of answer expected while down, the call): the same calls before and after the outage."""
    case, op, key = w["case"], w["op"], w["key"]
    no, secret = case["tracking_no"], case["secret"]
    v = w["village"]
    cookie = {"Cookie": f"sl_session={w['cookie']}"}
    open311 = {
        "api_key": w["raw_key"],
        "service_code": "0101",
        "attribute[subcategory]": "010103",
        "lat": str(v["lat"]),
        "long": str(v["lon"]),
        "description": "路口井盖松动，有安全隐患",
    }
    return {
        "hotline intake": (
            "json",
            lambda: api.post(
                "/api/intake/hotline", json={"external_id": f"h-{round_}", "content": "路灯坏了"}, headers=key
            ),
        ),
        "phone entry": ("json", lambda: api.post("/api/cases", json={"content": "占道经营"}, headers=auth(op))),
        "mail intake": (
            "json",
            lambda: api.post(
                "/api/intake/mail", content=mail(round_), headers=key | {"Content-Type": "message/rfc822"}
            ),
        ),
        "qr intake": (
            "json",
            lambda: api.post(f"/api/intake/qr/{w['qr']}", data={"content": "垃圾满了", "category": "城乡建设"}),
        ),
        "case read": ("json", lambda: api.get(f"/api/cases/{case['id']}", headers=auth(op))),
        "case list": ("json", lambda: api.get("/api/cases", headers=auth(op))),
        "tracking": ("json", lambda: api.get(f"/api/track/{no}", headers={"X-Tracking-Secret": secret})),
        "tracking (query)": ("json", lambda: api.get(f"/api/track/{no}", params={"secret": secret})),
        "sign-in": ("json", lambda: api.post("/api/auth/token", json={"username": "operator", "password": PASSWORD})),
        "login page": (
            "page",
            lambda: httpx.post(  # a client of its own: the session cookie it may set stays out of the API calls
                str(api.base_url.join("/login")),
                data={"username": "operator", "password": PASSWORD},
                headers=PAGE,
                follow_redirects=False,
                timeout=30,
            ),
        ),
        "board page": ("page", lambda: api.get("/board", headers=PAGE | cookie)),
        "open311 post": ("open311", lambda: api.post("/open311/v2/requests.json", data=open311)),
    }


OK = {"hotline intake": 201, "phone entry": 201, "mail intake": 201, "qr intake": 201, "login page": 303}


def test_every_door_answers_503_while_the_database_is_down_and_works_again_after(db_outage, api, server, world):
    cut, restore = db_outage
    key, case = world["key"], world["case"]
    # the key is now remembered by the process (no database read): these intakes reach the group writer
    assert (
        api.post("/api/intake/hotline", json={"external_id": "warm", "content": "路灯坏了"}, headers=key).status_code
        == 201
    )

    cut()
    try:
        # intakes arriving together share one group commit: every caller of the group gets the 503
        def intake(i: int) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                return client.post(
                    "/api/intake/hotline", json={"external_id": f"g-{i}", "content": "井盖丢失"}, headers=key
                )

        with ThreadPoolExecutor(8) as pool:
            for res in pool.map(intake, range(8)):
                assert_json_503(res, "grouped hotline intake")

        for name, (kind, call) in calls(api, world, "down").items():
            res = call()
            {"json": assert_json_503, "page": assert_page_503, "open311": assert_open311_503}[kind](res, name)
        rating = api.post(
            f"/api/track/{case['tracking_no']}/rating", json={"secret": case["secret"], "score": "satisfied"}
        )
        assert_json_503(rating, "rating")

        # a board socket that cannot be authorised now: "try again later", not forbidden, not a crash
        with board(server, world["op"]) as ws, pytest.raises(ConnectionClosed) as closed:
            recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    finally:
        restore()

    # back without a restart: the very first calls succeed
    for name, (_kind, call) in calls(api, world, "up").items():
        res = call()
        assert res.status_code == OK.get(name, 200), f"{name}: {res.status_code} {res.text[:300]}"
    rating = api.post(f"/api/track/{case['tracking_no']}/rating", json={"secret": case["secret"], "score": "satisfied"})
    assert rating.status_code == 200 and rating.json()["status"] == "closed", rating.text
    with board(server, world["op"]) as ws:
        assert recv(ws)["type"] == "hello"
        # and the outbox relay thread lived through the outage: a new case reaches the board
        new = api.post("/api/intake/hotline", json={"external_id": "live", "content": "路灯坏了"}, headers=key)
        assert new.status_code == 201, new.text
        assert recv_until(ws, 1, case_id=new.json()["id"])
    # the group writer survived: grouped intakes go through again
    with ThreadPoolExecutor(4) as pool:
        statuses = list(
            pool.map(
                lambda i: (
                    api.post(
                        "/api/intake/hotline", json={"external_id": f"after-{i}", "content": "井盖丢失"}, headers=key
                    ).status_code
                ),
                range(4),
            )
        )
    assert statuses == [201] * 4
    assert api.get("/readyz").status_code == 200
