"""Administration APIs: accounts (admin only) and the all-or-nothing members import from XLSX/CSV."""

from __future__ import annotations

import io

from helpers import PASSWORD, auth, user_token
from openpyxl import Workbook, load_workbook


def _members(api, token) -> list[dict]:
    res = api.get("/api/members", headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def _towns(api, token) -> list[dict]:
    return api.get("/api/regions?level=town", headers=auth(token)).json()


def _villages(api, token, town_code) -> list[dict]:
    return api.get(f"/api/regions?level=village&parent_code={town_code}", headers=auth(token)).json()


def _upload(api, token, name: str, data: bytes, **form: str):
    return api.post("/api/members/import", files={"file": (name, data)}, data=form, headers=auth(token))


# --------------------------------------------------------------------------- accounts


def test_admin_lists_creates_and_changes_accounts(api):
    admin = user_token(api, "admin", "root")
    res = api.post(
        "/api/users", json={"username": "duty1", "password": "long-enough-1", "role": "operator"}, headers=auth(admin)
    )
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["role"] == "operator" and created["active"] is True and "password_hash" not in created

    listed = api.get("/api/users", headers=auth(admin)).json()
    assert {u["username"] for u in listed} == {"root", "duty1"}
    assert all(set(u) == {"id", "username", "role", "member_id", "active", "created_at"} for u in listed)

    # the new account signs in; a reset password replaces the old one; deactivation ends sign-in
    assert api.post("/api/auth/token", json={"username": "duty1", "password": "long-enough-1"}).status_code == 200
    res = api.patch(f"/api/users/{created['id']}", json={"password": "another-pass-2"}, headers=auth(admin))
    assert res.status_code == 200, res.text
    assert api.post("/api/auth/token", json={"username": "duty1", "password": "long-enough-1"}).status_code == 401
    token = api.post("/api/auth/token", json={"username": "duty1", "password": "another-pass-2"}).json()
    assert api.get("/api/members", headers=auth(token["access_token"])).status_code == 200
    res = api.patch(f"/api/users/{created['id']}", json={"active": False, "role": "supervisor"}, headers=auth(admin))
    assert res.json()["active"] is False and res.json()["role"] == "supervisor"
    assert api.get("/api/members", headers=auth(token["access_token"])).status_code == 401
    assert api.post("/api/auth/token", json={"username": "duty1", "password": "another-pass-2"}).status_code == 401

    # the service's rules: duplicate names, weak passwords, member accounts without a member, unknown roles
    dup = api.post(
        "/api/users", json={"username": "duty1", "password": "x" * 9, "role": "operator"}, headers=auth(admin)
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "username_taken"
    weak = api.post("/api/users", json={"username": "w", "password": "short", "role": "operator"}, headers=auth(admin))
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    mem = api.post("/api/users", json={"username": "m", "password": "x" * 9, "role": "member"}, headers=auth(admin))
    assert mem.status_code == 422 and mem.json()["error"]["code"] == "member_id_required"
    bad = api.post("/api/users", json={"username": "b", "password": "x" * 9, "role": "king"}, headers=auth(admin))
    assert bad.status_code == 422
    missing = api.patch("/api/users/9999", json={"active": False}, headers=auth(admin))
    assert missing.status_code == 404


def test_only_admin_manages_accounts_and_admin_cannot_lock_themself_out(api):
    admin = user_token(api, "admin", "root")
    me = next(u for u in api.get("/api/users", headers=auth(admin)).json() if u["username"] == "root")
    for role in ("operator", "supervisor", "member"):
        token = user_token(api, role, f"{role}-x") if role != "member" else None
        if token is None:
            continue
        assert api.get("/api/users", headers=auth(token)).status_code == 403
        body = {"username": f"new-{role}", "password": PASSWORD, "role": "admin"}
        res = api.post("/api/users", json=body, headers=auth(token))
        assert res.status_code == 403 and res.json()["error"]["code"] == "forbidden"
        assert api.patch(f"/api/users/{me['id']}", json={"active": False}, headers=auth(token)).status_code == 403
    assert api.get("/api/users").status_code == 401

    res = api.patch(f"/api/users/{me['id']}", json={"active": False}, headers=auth(admin))
    assert res.status_code == 403 and res.json()["error"]["code"] == "cannot_deactivate_self"
    res = api.patch(f"/api/users/{me['id']}", json={"role": "operator"}, headers=auth(admin))
    assert res.status_code == 403 and res.json()["error"]["code"] == "cannot_demote_self"
    still = next(u for u in api.get("/api/users", headers=auth(admin)).json() if u["id"] == me["id"])
    assert still["active"] is True and still["role"] == "admin"
    # changing one's own password is fine
    assert (
        api.patch(f"/api/users/{me['id']}", json={"password": "new-password-9"}, headers=auth(admin)).status_code == 200
    )


# --------------------------------------------------------------------------- import


def test_gbk_csv_with_chinese_headers_creates_members(api):
    op = user_token(api, "operator")
    town = _towns(api, op)[2]  # 潘黄街道
    village = _villages(api, op, town["code"])[0]
    short_town = town["name"].removesuffix("街道").removesuffix("镇")
    csv_text = (
        "姓名,电话,层级,界别,镇街,村社区,擅长类别,容量,在岗,纬度,经度,坐标系\r\n"
        f"王芳,13900001111,镇,农业界,{town['name']},,城乡建设、环境保护,5,是,{village['lat']},{village['lon']},wgs84\r\n"
        f"李强,13900002222,村,经济界,{short_town},{village['name']},,2,否,,,\r\n"
        f"赵敏,13900003333,区,医卫界,,,交通管理|城乡建设,,1,,,\r\n"
        f"钱伟,,村,,{town['code']},{village['code']},,3,true,,,\r\n"
        ",,,,,,,,,,,\r\n"  # blank lines are skipped
    )
    res = _upload(api, op, "委员.csv", csv_text.encode("gbk"))
    assert res.status_code == 200, res.text
    assert res.json() == {"created": 4, "rows": 4, "errors": [], "dry_run": False}

    members = {m["name"]: m for m in _members(api, op)}
    assert set(members) == {"王芳", "李强", "赵敏", "钱伟"}
    wang, li, zhao, qian = members["王芳"], members["李强"], members["赵敏"], members["钱伟"]
    assert wang["level"] == "town" and wang["town_code"] == town["code"] and wang["capacity"] == 5
    assert wang["sector"] == "农业界" and wang["on_duty"] is True and wang["phone"] == "13900001111"
    assert len(wang["categories"]) == 2 and wang["categories"][0].startswith("城乡建设")
    assert abs(wang["lat"] - village["lat"]) < 1e-6
    assert li["village_code"] == village["code"] and li["town_code"] == town["code"] and li["on_duty"] is False
    assert zhao["level"] == "district" and zhao["town_code"] is None and len(zhao["categories"]) == 2
    assert qian["village_code"] == village["code"] and qian["capacity"] == 3


def test_utf8_bom_csv_with_english_headers(api):
    op = user_token(api, "operator")
    town = _towns(api, op)[0]
    text = f"Name,Phone,Level,Town,Capacity,On duty\nAlice,13700000000,town,{town['code']},4,no\n"
    res = _upload(api, op, "members.csv", "\ufeff".encode() + text.encode())
    assert res.status_code == 200, res.text
    [alice] = _members(api, op)
    assert alice["name"] == "Alice" and alice["town_code"] == town["code"] and alice["on_duty"] is False


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_xlsx_with_bad_rows_creates_nothing_and_lists_each_error(api):
    op = user_token(api, "operator")
    town = _towns(api, op)[1]
    data = _xlsx(
        [
            ["姓名", "电话", "层级", "镇街", "容量", "在岗"],
            ["周一", 13800000001, "镇", town["name"], 3, "是"],  # row 2: fine
            ["吴二", 13800000002, "镇", "不存在镇", 3, "是"],  # row 3: unknown town
            ["郑三", 13800000003, "镇", town["name"], 2, "否"],  # row 4: fine
            ["冯四", 13800000004, "村", town["code"], "abc", "是"],  # row 5: capacity
        ]
    )
    res = _upload(api, op, "members.xlsx", data)
    assert res.status_code == 422, res.text
    error = res.json()["error"]
    assert error["code"] == "import_failed"
    details = error["details"]
    assert details["created"] == 0 and details["dry_run"] is False
    assert [(e["row"], e["field"], e["code"]) for e in details["errors"]] == [
        (3, "town", "unknown_town"),
        (5, "capacity", "invalid_capacity"),
    ]
    assert all(" / " in e["message"] for e in details["errors"])
    assert _members(api, op) == []  # all or nothing


def test_rules_of_member_creation_apply_to_rows(api):
    op = user_token(api, "operator")
    data = _xlsx(
        [
            ["name", "level", "town", "categories", "lat", "lon"],
            ["A", "town", "", "", "", ""],  # town-level member without a town: the service's rule
            ["B", "district", "", "外星人入侵", "", ""],  # unknown category
            ["C", "district", "", "", 35.68, 139.76],  # outside China
            ["", "district", "", "", "", ""],  # no name
            ["E", "mayor", "", "", "", ""],  # bad level
        ]
    )
    res = _upload(api, op, "rules.xlsx", data)
    assert res.status_code == 422
    got = [(e["row"], e["field"], e["code"]) for e in res.json()["error"]["details"]["errors"]]
    assert got[:3] == [
        (2, "town", "town_required"),
        (3, "categories", "unknown_category"),
        (4, "lat", "location_outside_china"),
    ]
    assert [(r, f) for r, f, _ in got[3:]] == [(5, "name"), (6, "level")]
    assert _members(api, op) == []


def test_dry_run_checks_without_creating(api):
    op = user_token(api, "operator")
    town = _towns(api, op)[0]
    good = _xlsx([["姓名", "层级", "镇街"], ["甲", "镇", town["name"]], ["乙", "镇", town["name"]]])
    res = _upload(api, op, "good.xlsx", good, dry_run="true")
    assert res.status_code == 200, res.text
    assert res.json() == {"created": 2, "rows": 2, "errors": [], "dry_run": True}
    assert _members(api, op) == []
    bad = _xlsx([["姓名", "层级", "镇街"], ["甲", "镇", "火星"]])
    res = _upload(api, op, "bad.xlsx", bad, dry_run="true")
    assert res.status_code == 422 and res.json()["error"]["details"]["dry_run"] is True
    assert _members(api, op) == []
    # then the real import
    assert _upload(api, op, "good.xlsx", good).json()["created"] == 2
    assert len(_members(api, op)) == 2


def test_file_level_problems_and_roles(api):
    op = user_token(api, "operator")
    res = _upload(api, op, "x.csv", "电话,界别\n1,2\n".encode())
    assert res.status_code == 422
    assert {e["field"] for e in res.json()["error"]["details"]["errors"]} == {"name", "level"}
    res = _upload(api, op, "old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    assert res.status_code == 422 and res.json()["error"]["code"] == "unsupported_file"
    res = _upload(api, op, "broken.xlsx", b"PK\x03\x04 not really a zip")
    assert res.status_code == 422 and res.json()["error"]["code"] == "invalid_file"
    sup = user_token(api, "supervisor")
    assert _upload(api, sup, "x.csv", "姓名,层级\n甲,区\n".encode()).status_code == 403
    assert api.get("/api/members/import/template.xlsx", headers=auth(sup)).status_code == 403
    admin = user_token(api, "admin")
    assert _upload(api, admin, "x.csv", "姓名,层级\n甲,区\n".encode()).json()["created"] == 1


def test_template_downloads_opens_and_imports_back(api):
    op = user_token(api, "operator")
    res = api.get("/api/members/import/template.xlsx", headers=auth(op))
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert "attachment" in res.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(res.content))
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["姓名", "电话", "层级"] and "擅长类别" in header and "坐标系" in header
    assert len(wb.sheetnames) == 3  # members, instructions, regions
    assert wb.worksheets[2].max_row > 200  # every village with its town
    # filled in and sent back, it imports
    town = _towns(api, op)[3]
    ws.append(["孙七", "13600000000", "镇", "", town["name"], "", "", 3, "是"])
    out = io.BytesIO()
    wb.save(out)
    res = _upload(api, op, "filled.xlsx", out.getvalue())
    assert res.status_code == 200, res.text
    assert res.json()["created"] == 1
