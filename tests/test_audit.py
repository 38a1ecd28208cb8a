"""The staff audit log: every write by a signed-in principal (refusals too) and personal-data reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import PASSWORD, api_key, auth, create_member, user_token


@pytest.fixture
def admin(api) -> str:
    return user_token(api, "admin", "boss")


def entries(api, admin: str, **params) -> list[dict]:
    res = api.get("/api/admin/audit", params=params | {"page_size": 500}, headers=auth(admin))
    assert res.status_code == 200, res.text
    return res.json()["items"]


def test_staff_and_member_actions_are_recorded_with_actor_and_status(api, admin):
    op = user_token(api, "operator", "op")
    member = create_member(api, admin, name="王委员", level="district")
    mem = user_token(api, "member", "wang", member_id=member["id"])
    key = api_key("hotline")

    made = api.post(
        "/api/cases",
        json={"content": "来电：路灯不亮", "lat": 33.3, "lon": 120.1},
        headers=auth(op) | {"X-Request-ID": "req-42"},
    )
    assert made.status_code == 201
    case_id = made.json()["id"]
    refused = api.post("/api/users", json={"username": "x", "password": "12345678", "role": "admin"}, headers=auth(op))
    assert refused.status_code == 403
    assert api.post(f"/api/cases/{case_id}/accept", headers=auth(mem)).status_code in (403, 404, 409)
    hot = api.post(
        "/api/intake/hotline", json={"external_id": "H-1", "content": "热线：漏水"}, headers={"X-API-Key": key}
    )
    assert hot.status_code == 201
    # a resident's report and a sign-in are not staff actions
    assert api.post("/api/auth/token", json={"username": "op", "password": PASSWORD}).status_code == 200

    log = entries(api, admin)
    by_path = {(e["method"], e["path"], e["actor_name"]): e for e in log}
    create = by_path[("POST", "/api/cases", "op")]
    assert (create["actor_kind"], create["actor_role"], create["status"]) == ("user", "operator", 201)
    assert create["request_id"] == "req-42" and "路灯不亮" in create["summary"] and create["body_sha256"]
    assert create["client_ip"] == "127.0.0.1"
    denied = by_path[("POST", "/api/users", "op")]
    assert denied["status"] == 403 and denied["actor_role"] == "operator"
    accept = by_path[("POST", f"/api/cases/{case_id}/accept", "wang")]
    assert accept["actor_role"] == "member" and accept["status"] >= 400
    assert (accept["target_type"], accept["target_id"]) == ("case", str(case_id))
    # a machine feed's delivery is not a staff action (the case's trail names the key)
    assert not any(e["path"] == "/api/intake/hotline" for e in log)
    trail = api.get(f"/api/cases/{hot.json()['id']}/events", headers=auth(op)).json()
    assert trail[0]["actor"].startswith("apikey:")
    assert not any(e["path"] in ("/api/auth/token", "/login") for e in log)
    # the admin's own member creation is there too
    assert any(e["actor_name"] == "boss" and e["path"] == "/api/members" and e["status"] == 201 for e in log)


def test_personal_data_downloads_are_recorded(api, admin):
    sup = user_token(api, "supervisor", "sup")
    res = api.get("/api/reports/cases", params={"kpi": "intake"}, headers=auth(sup))
    assert res.status_code in (200, 422)
    assert api.get("/api/cases", headers=auth(sup)).status_code == 200  # an ordinary read: not recorded
    log = entries(api, admin, actor="sup")
    assert [(e["method"], e["path"]) for e in log] == [("GET", "/api/reports/cases")]
    assert "kpi=intake" in log[0]["summary"]


def test_filters_and_paging(api, admin):
    op = user_token(api, "operator", "op")
    for n in range(3):
        assert (
            api.post(
                "/api/cases", json={"content": f"来电{n}", "lat": 33.3, "lon": 120.1}, headers=auth(op)
            ).status_code
            == 201
        )
    assert api.post("/api/cases", json={"content": ""}, headers=auth(op)).status_code == 422
    assert api.post("/api/departments", json={"name": "住建局"}, headers=auth(admin)).status_code in (201, 422)

    assert {e["actor_role"] for e in entries(api, admin, role="operator")} == {"operator"}
    assert len(entries(api, admin, actor="op")) == 4
    assert [e["status"] for e in entries(api, admin, actor="op", status=422)] == [422]
    assert {e["path"] for e in entries(api, admin, path="/api/depart")} == {"/api/departments"}
    assert all(e["method"] == "POST" for e in entries(api, admin, method="post"))
    uid = entries(api, admin, actor="op")[0]["actor_id"]
    assert len(entries(api, admin, actor=str(uid))) == 4
    now = datetime.now(UTC)
    assert entries(api, admin, **{"from": (now + timedelta(hours=1)).isoformat()}) == []
    assert len(entries(api, admin, actor="op", to=(now + timedelta(hours=1)).isoformat())) == 4
    assert entries(api, admin, actor="op", to=(now - timedelta(hours=1)).isoformat()) == []
    page = api.get("/api/admin/audit", params={"actor": "op", "page": 2, "page_size": 3}, headers=auth(admin)).json()
    assert page["total"] == 4 and len(page["items"]) == 1 and page["page"] == 2
    first = api.get("/api/admin/audit", params={"actor": "op", "page_size": 3}, headers=auth(admin)).json()["items"]
    assert [e["id"] for e in first] == sorted((e["id"] for e in first), reverse=True)  # newest first


def test_only_admins_read_the_log(api, server, admin):
    for role in ("operator", "supervisor"):
        token = user_token(api, role)
        res = api.get("/api/admin/audit", headers=auth(token))
        assert res.status_code == 403 and res.json()["error"]["code"] == "forbidden"
    assert api.get("/api/admin/audit").status_code == 401
    import httpx

    with httpx.Client(base_url=server.url, timeout=30) as browser:
        assert browser.post("/login", data={"username": "operator", "password": PASSWORD}).status_code == 303
        assert browser.get("/admin/audit").status_code == 403
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        assert browser.post("/login", data={"username": "boss", "password": PASSWORD}).status_code == 303
        page = browser.get("/admin/audit")
        assert page.status_code == 200 and "/static/audit." in page.text and "操作审计" in page.text


def test_passwords_and_tokens_never_reach_the_log(api, admin):
    key = api_key("hotline")
    secret_pw = "N3w-very-secret-pass"
    res = api.post(
        "/api/users", json={"username": "clerk", "password": secret_pw, "role": "operator"}, headers=auth(admin)
    )
    assert res.status_code == 201
    uid = res.json()["id"]
    assert api.patch(f"/api/users/{uid}", json={"password": secret_pw + "2"}, headers=auth(admin)).status_code == 200
    assert (
        api.post(
            "/api/intake/hotline?api_key=" + key, json={"external_id": "K", "content": "x"}, headers={"X-API-Key": key}
        ).status_code
        == 201
    )
    text = api.get("/api/admin/audit", headers=auth(admin)).text
    for secret in (secret_pw, PASSWORD, admin, key):
        assert secret not in text
    changed = entries(api, admin, path=f"/api/users/{uid}")
    assert changed and '"password": "***"' in changed[0]["summary"]
