"""Hostile input at the doors: control characters, nested and repeated JSON, implausible times and keys, and
forged client addresses. What a caller would notice — the answer and its code — and what is stored: the same
on SQLite and PostgreSQL, and never half of a request."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args, get_origin

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from helpers import api_key, auth, point_token, user_token
from procs import serve_process, wait_for
from pydantic import BaseModel
from sqlmodel import Session, select

from dispatch.cases.models import Case, CaseIn, check_external_id
from dispatch.db import get_engine
from dispatch.errors import AppError
from dispatch.intake import service
from dispatch.intake.models import HotlineFeedIn
from dispatch.jsonbody import MAX_DEPTH
from dispatch.validation import check_phone, check_text

HOTLINE = "/api/intake/hotline"
LAT, LON = 33.35, 120.16


@pytest.fixture(autouse=True)
def no_5xx(api):
    def check(response):
        assert response.status_code < 500, f"{response.request.method} {response.request.url} → {response.status_code}"

    api.event_hooks["response"].append(check)


@pytest.fixture
def key() -> dict[str, str]:
    return {"X-API-Key": api_key()}


def cases() -> list[Case]:
    with Session(get_engine()) as session:
        return list(session.exec(select(Case).order_by(Case.id)).all())


def error(res: httpx.Response, status: int, code: str) -> dict:
    assert res.status_code == status, res.text
    err = res.json()["error"]
    assert err["code"] == code, err
    assert " / " in err["message"], err["message"]
    return err


# --------------------------------------------------------------------------- text


def test_a_batch_refuses_the_item_with_a_control_character_alone_and_stores_none_of_it(api, key):
    for n, bad in enumerate(({"content": "路灯\x00不亮"}, {"caller_name": "张\x00三"})):
        items = [
            {"external_id": f"B{n}-1", "content": "路灯不亮"},
            {"external_id": f"B{n}-2", "content": "井盖缺失"} | bad,
            {"external_id": f"B{n}-3", "content": "噪音扰民\n第二行\t缩进"},  # tab and line breaks are text
        ]
        res = api.post(HOTLINE, json=items, headers=key)
        assert res.status_code == 207, res.text
        results = res.json()
        assert [r["status"] for r in results] == [201, 422, 201]
        err = results[1]["body"]["error"]
        assert err["code"] == "invalid_text", err
        (field,) = err["details"]["fields"]
        assert field["field"] == next(iter(bad)) and "U+0000" in field["problem"]
    stored = cases()
    assert sorted(c.external_id for c in stored) == ["B0-1", "B0-3", "B1-1", "B1-3"]
    assert all("\x00" not in c.content and "\x00" not in (c.reporter_name or "") for c in stored)

    # the same item alone, and other characters a request's text may not hold
    for n, text in enumerate(("井盖\x00缺失", "井盖\x1b[2J缺失", "井盖\x85缺失", "井盖\ud800缺失")):
        body = json.dumps({"external_id": f"S{n}", "content": text})  # \ud800: a lone surrogate, as JSON allows
        error(api.post(HOTLINE, content=body, headers=key | {"Content-Type": "application/json"}), 422, "invalid_text")
    assert len(cases()) == 4


def test_phone_entry_qr_form_and_rating_refuse_control_characters_and_store_nothing(api):
    op = user_token(api, "operator")
    error(api.post("/api/cases", json={"content": "来电\x00内容"}, headers=auth(op)), 422, "invalid_text")
    error(api.post("/api/cases", json={"content": "来电", "address": "\x00"}, headers=auth(op)), 422, "invalid_text")
    token = point_token(api, op)
    form = {"content": "路灯不亮", "category": "城乡建设"}
    for field, value in (("content", "路灯\x00不亮"), ("name", "李\x00四"), ("phone", "138\x0013800000")):
        error(api.post(f"/api/intake/qr/{token}", data=form | {field: value}), 422, "invalid_text")
        page = api.post(f"/q/{token}", data=form | {field: value})  # the form without JavaScript: a page
        assert page.status_code == 422 and page.headers["x-error-code"] == "invalid_text", page.text
        assert "控制字符" in page.text
    assert cases() == []

    made = api.post("/api/cases", json={"content": "来电", "lat": LAT, "lon": LON}, headers=auth(op)).json()
    rating = {"secret": made["secret"], "score": "satisfied", "comment": "很好\x00"}
    error(api.post(f"/api/track/{made['tracking_no']}/rating", json=rating), 422, "invalid_text")


def test_open311_refuses_control_characters_in_its_own_format(api):
    key = api_key("open311")
    fields = {
        "api_key": key,
        "service_code": "0101",
        "attribute[subcategory]": "010103",
        "lat": str(LAT),
        "long": str(LON),
        "description": "井盖\x00松动",
    }
    res = api.post("/open311/v2/requests.json", data=fields)
    assert res.status_code == 400, res.text
    assert res.json()[0]["code"] == 400 and "description" in res.json()[0]["description"]
    res = api.get("/open311/v2/requests.json", params={"status": "open\x00"})
    assert res.status_code == 400 and res.json()[0]["code"] == 400, res.text
    assert cases() == []


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_mail_with_control_characters_still_becomes_a_case_without_them(api, key):
    name, subject, text = b64("张\x00大妈"), b64("路灯\x01坏了"), b64("村口路灯\x00不亮\x07，请修理")
    raw = (
        f"From: =?utf-8?b?{name}?= <zhang@example.cn>\r\n"
        "To: xinxiang@yandu.gov.cn\r\n"
        f"Subject: =?utf-8?b?{subject}?=\r\n"
        "Message-ID: <hostile-1@example.cn>\r\n"
        "Date: Fri, 01 Jan 2100 00:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{text}\r\n"
    ).encode()
    res = api.post("/api/intake/mail", content=raw, headers=key | {"Content-Type": "message/rfc822"})
    assert res.status_code == 201, res.text
    (case,) = cases()
    assert case.content == "村口路灯不亮，请修理"
    assert (case.title, case.reporter_name) == ("路灯坏了", "张大妈")
    assert case.received_at > datetime.now(UTC) - timedelta(hours=1)  # an implausible Date: received now


def test_every_text_field_of_a_request_is_validated_text():
    """Walks the app's routes: each text a request body or form carries is ``validation.Text``. Passwords are
    only hashed; the resident pages' forms become a case that ``cases.service.prepare`` checks, answered as a
    page (a model's refusal would be JSON)."""
    from dispatch.app import create_app

    def bare(annotation, path: str):
        origin = get_origin(annotation)
        if annotation is str:
            yield path
        elif origin is Annotated:
            base, *meta = get_args(annotation)
            if base is str:
                if not any(getattr(m, "func", None) in (check_text, check_phone, check_external_id) for m in meta):
                    yield path
            else:
                yield from bare(base, path)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, f in annotation.model_fields.items():
                typ = Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
                if name != "password":
                    yield from bare(typ, f"{path}.{name}")
        elif origin is not Literal:
            for arg in get_args(annotation):
                yield from bare(arg, path)

    found = [*bare(CaseIn, "CaseIn"), *bare(HotlineFeedIn, "HotlineFeedIn")]  # read by the intake views
    app = create_app(start_background=False)
    n = 0
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or ctx.path in ("/q/{token}", "/mb/{token}"):
            continue
        for param in route.dependant.body_params:
            n += 1
            info = param.field_info
            typ = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            if param.name != "password":
                found += bare(typ, f"{ctx.path}:{param.name}")
    assert n > 40 and found == []


# --------------------------------------------------------------------------- JSON


def test_deep_or_repeated_json_is_refused_by_every_route_that_reads_json(api, key):
    deep = "[" * 100_000 + "]" * 100_000
    for path, headers in ((HOTLINE, key), ("/api/auth/token", {}), ("/api/cases", {})):
        res = api.post(path, content=deep, headers=headers | {"Content-Type": "application/json"})
        err = error(res, 400, "json_too_deep")
        assert err["details"]["max_depth"] == MAX_DEPTH

    def nested(depth: int) -> str:  # an object whose innermost value sits at ``depth`` levels
        inner: list = []
        for _ in range(depth - 2):
            inner = [inner]  # depth - 1 levels of lists inside the object
        return json.dumps({"external_id": f"N{depth}", "content": "x", "extra": inner})

    ok = api.post(HOTLINE, content=nested(MAX_DEPTH), headers=key | {"Content-Type": "application/json"})
    assert ok.status_code == 201, ok.text
    error(
        api.post(HOTLINE, content=nested(MAX_DEPTH + 1), headers=key | {"Content-Type": "application/json"}),
        400,
        "json_too_deep",
    )

    repeated = '{"external_id": "D1", "content": "甲", "content": "乙"}'
    err = error(
        api.post(HOTLINE, content=repeated, headers=key | {"Content-Type": "application/json"}), 400, "duplicate_key"
    )
    assert err["details"]["key"] == "content" and "content" in err["message"]
    inner = '[{"external_id": "D2", "content": "x"}, {"external_id": "D3", "content": "x", "meta": {"k": 1, "k": 2}}]'
    err = error(
        api.post(HOTLINE, content=inner, headers=key | {"Content-Type": "application/json"}), 400, "duplicate_key"
    )
    assert err["details"]["key"] == "k"
    login = '{"username": "a", "username": "b", "password": "x"}'
    error(
        api.post("/api/auth/token", content=login, headers={"Content-Type": "application/json"}), 400, "duplicate_key"
    )
    assert [c.external_id for c in cases()] == [f"N{MAX_DEPTH}"]


# --------------------------------------------------------------------------- times and keys


def test_implausible_received_at_and_blank_external_ids_are_refused(api, key):
    now = datetime.now(UTC)
    for n, value in enumerate(
        (
            "0001-01-01T00:00:00+08:00",
            "1999-12-31T23:59:00Z",
            "9999-12-31T23:59:59",
            (now + timedelta(hours=1)).isoformat(),
        )
    ):
        res = api.post(HOTLINE, json={"external_id": f"T{n}", "content": "x", "received_at": value}, headers=key)
        error(res, 422, "invalid_received_at")
    soon = (now + timedelta(seconds=60)).isoformat()  # a platform clock a minute ahead: within the skew
    assert (
        api.post(HOTLINE, json={"external_id": "ok", "content": "x", "received_at": soon}, headers=key).status_code
        == 201
    )
    batch = [
        {"external_id": "bt-1", "content": "x", "received_at": "0001-01-01T00:00:00"},
        {"external_id": "bt-2", "content": "x"},
    ]
    res = api.post(HOTLINE, json=batch, headers=key)
    assert [r["status"] for r in res.json()] == [422, 201]
    assert res.json()[0]["body"]["error"]["code"] == "invalid_received_at"

    for n, value in enumerate(("", "   ", "E\x01", "E\u3000F", "x" * 129)):
        res = api.post(HOTLINE, json={"external_id": value, "content": f"内容{n}"}, headers=key)
        error(res, 422, "invalid_external_id")
    first = api.post(HOTLINE, json={"external_id": " P-1 ", "content": "x"}, headers=key)
    again = api.post(HOTLINE, json={"external_id": "P-1", "content": "x"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    assert sorted(c.external_id for c in cases()) == ["P-1", "bt-2", "ok"]


def test_a_case_the_database_would_refuse_is_refused_before_its_group_is_written(env, held):
    """What PostgreSQL refuses at INSERT time (a NUL, a name beyond its column, a year-1 time) is refused by
    ``prepare``: the group is written once, without it, on both backends; nothing is retried one by one."""
    release, sizes = held
    outcomes: dict[str, object] = {}

    def submit(external_id: str, **fields) -> None:
        values = {"content": "内容"} | fields
        new = service.NewCase(channel="hotline", actor="test", external_id=external_id, **values)
        try:
            outcomes[external_id] = service.submit(new)[0].tracking_no
        except AppError as exc:
            outcomes[external_id] = exc.code

    threads = [threading.Thread(target=submit, args=("lead",))]
    threads[0].start()
    wait_for(lambda: sizes, "the leader to take its group")
    bad = {
        "nul": {"content": "内\x00容"},
        "long": {"reporter_name": "名" * 65},
        "old": {"received_at": datetime(1, 1, 1)},
    }
    for external_id, fields in [("a", {}), *bad.items(), ("b", {})]:
        threads.append(threading.Thread(target=submit, args=(external_id,), kwargs=fields))
        threads[-1].start()
    wait_for(lambda: len(service._group.waiting) >= 5, "five intakes waiting")
    release.set()
    for t in threads:
        t.join(30)
    assert (outcomes["nul"], outcomes["long"], outcomes["old"]) == (
        "invalid_text",
        "value_too_long",
        "invalid_received_at",
    )
    assert sizes == [1, 5]
    assert sorted(c.external_id for c in cases()) == ["a", "b", "lead"]


# --------------------------------------------------------------------------- the client's address


def failed_sign_ins(base_url: str, forwarded: list[str]) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return [
            client.post(
                "/api/auth/token", json={"username": "op", "password": "wrong"}, headers={"X-Forwarded-For": f}
            ).status_code
            for f in forwarded
        ]


def test_forwarded_for_from_an_untrusted_loopback_peer_is_not_believed(api, server):
    """Plain uvicorn (as this test server runs) rewrites the peer from X-Forwarded-For for 127.0.0.1; the app
    reads the connection's own peer: rotating the header does not escape sign-in throttling, and the audit
    log names the real address."""
    admin = user_token(api, "admin", "boss")
    op = user_token(api, "operator", "op")
    statuses = failed_sign_ins(server.url, [f"198.51.100.{n}" for n in range(7)])
    assert statuses == [401] * 5 + [429] * 2
    made = api.post("/api/cases", json={"content": "来电"}, headers=auth(op) | {"X-Forwarded-For": "203.0.113.9"})
    assert made.status_code == 201
    log = api.get("/api/admin/audit", params={"path": "/api/cases"}, headers=auth(admin)).json()["items"]
    assert [e["client_ip"] for e in log if e["method"] == "POST"] == ["127.0.0.1"]


def test_shangliang_serve_believes_forwarded_for_from_a_trusted_proxy(env):
    proc, url = serve_process("serve-proxy", {"SHANGLIANG_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        assert failed_sign_ins(url, [f"198.51.100.{n}" for n in range(7)]) == [401] * 7  # seven addresses
        assert failed_sign_ins(url, ["203.0.113.5"] * 6) == [401] * 5 + [429]  # one address, throttled
    finally:
        proc.stop()
