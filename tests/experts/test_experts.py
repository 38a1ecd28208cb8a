"""The think tank (协商智库) through HTTP: operators and admins add, change and deactivate experts, supervisors read
them (phones masked), members do not; lists filter by group, field, town, state and a search; a spreadsheet
import reports every problem of every row at once and adds nobody unless all rows are fine; the demo data holds
a think tank a consultation can draw from."""

from __future__ import annotations

import io

from helpers import auth, create_member, user_token
from openpyxl import Workbook, load_workbook
from sqlmodel import Session

from dispatch import demo
from dispatch.db import get_engine

X = "/api/consultations/experts"
T = "/api/consultations/topics"
OK = {k: {"ok": True} for k in ("political", "group_interest", "forward_looking", "democratic", "feasible")}


def _ok(res, status: int = 200):
    assert res.status_code == status, res.text
    return res.json()


def _err(res, status: int, code: str) -> dict:
    assert res.status_code == status, res.text
    err = res.json()["error"]
    assert err["code"] == code, err
    zh, _, en = err["message"].partition(" / ")
    assert zh and en, err["message"]  # Chinese and English
    return err


def _towns(api, token: str) -> list[dict]:
    return _ok(api.get("/api/regions?level=town", headers=auth(token)))


def test_operators_and_admins_manage_supervisors_read_members_are_refused(api):
    op, admin = user_token(api, "operator"), user_token(api, "admin")
    sup = user_token(api, "supervisor")
    m = create_member(api, op, name="张委员", level="district")
    member = user_token(api, "member", "m-x", member_id=m["id"])
    town, other = _towns(api, op)[:2]

    lawyer = _ok(
        api.post(
            X,
            json={
                "name": "周律师",
                "phone": "13800001111",
                "organisation": "江苏盐都律师事务所",
                "title": "律师",
                "kind": "law",
                "town_code": town["code"],
                "fields": [" 法律咨询 ", "人民调解", "法律咨询"],
                "conflict_towns": [other["code"]],
            },
            headers=auth(op),
        ),
        201,
    )
    assert lawyer["fields"] == ["法律咨询", "人民调解"]  # stripped, repeats dropped
    assert (lawyer["kind"], lawyer["town_code"], lawyer["active"]) == ("law", town["code"], True)
    notable = _ok(
        api.post(
            X,
            json={"name": "王乡贤", "kind": "notable", "town_code": other["code"], "fields": ["人民调解", "农村农业"]},
            headers=auth(admin),
        ),
        201,
    )
    planner = _ok(api.post(X, json={"name": "李工", "kind": "trade", "fields": ["城乡建设"]}, headers=auth(op)), 201)

    # supervisors read (phones masked), members and the anonymous do not; only operators and admins write
    [seen] = [e for e in _ok(api.get(X, headers=auth(sup))) if e["id"] == lawyer["id"]]
    assert seen["phone"] == "138****1111"
    _err(api.post(X, json={"name": "x", "fields": ["城建"]}, headers=auth(sup)), 403, "forbidden")
    _err(api.patch(f"{X}/{lawyer['id']}", json={"active": False}, headers=auth(sup)), 403, "forbidden")
    _err(api.get(X, headers=auth(member)), 403, "forbidden")
    assert api.get(X).status_code == 401

    # the rules: a field to be drawn for, a known town, known conflict regions, one expert per phone number
    _err(api.post(X, json={"name": "无领域"}, headers=auth(op)), 422, "fields_required")
    _err(api.post(X, json={"name": "空领域", "fields": [" ", ""]}, headers=auth(op)), 422, "fields_required")
    _err(
        api.post(X, json={"name": "x", "fields": ["a"], "town_code": "999999"}, headers=auth(op)), 422, "unknown_region"
    )
    bad = {"name": "x", "fields": ["a"], "conflict_towns": ["nowhere"]}
    _err(api.post(X, json=bad, headers=auth(op)), 422, "unknown_region")
    assert api.post(X, json={"name": "x", "fields": ["a"], "kind": "wizard"}, headers=auth(op)).status_code == 422
    dup = _err(
        api.post(X, json={"name": "另一人", "phone": "13800001111", "fields": ["a"]}, headers=auth(op)),
        409,
        "expert_exists",
    )
    assert dup["details"]["expert_id"] == lawyer["id"]
    assert len(_ok(api.get(X, headers=auth(op)))) == 3  # none of the refused was written

    # filters: group, field, town, a search over name, organisation and fields
    ids = lambda **q: [e["id"] for e in _ok(api.get(X, params=q, headers=auth(op)))]  # noqa: E731
    assert ids(kind="law") == [lawyer["id"]]
    assert ids(field="人民调解") == [lawyer["id"], notable["id"]]
    assert ids(town_code=other["code"]) == [notable["id"]]
    assert ids(q="律师事务所") == [lawyer["id"]] and ids(q="城乡") == [planner["id"]]
    assert _ok(api.get(f"{X}/fields", headers=auth(sup)))[0] == "人民调解"  # most experts first

    # update, then deactivate: gone from the active list and the draw's pool, still readable
    changed = _ok(
        api.patch(f"{X}/{planner['id']}", json={"title": "高级工程师", "phone": "13900002222"}, headers=auth(op))
    )
    assert (changed["title"], changed["phone"], changed["fields"]) == ("高级工程师", "13900002222", ["城乡建设"])
    _err(api.patch(f"{X}/{planner['id']}", json={"fields": []}, headers=auth(op)), 422, "fields_required")
    _err(api.patch(f"{X}/{planner['id']}", json={"phone": "13800001111"}, headers=auth(op)), 409, "expert_exists")
    off = _ok(api.patch(f"{X}/{notable['id']}", json={"active": False}, headers=auth(admin)))
    assert off["active"] is False
    assert ids(active="true") == [lawyer["id"], planner["id"]]
    assert ids(active="false") == [notable["id"]]
    assert _ok(api.get(f"{X}/{notable['id']}", headers=auth(sup)))["name"] == "王乡贤"
    _err(api.get(f"{X}/99999", headers=auth(op)), 404, "expert_not_found")

    topic = _ok(api.post(T, json={"title": "矛盾调处", "source": "plan"}, headers=auth(op)), 201)
    res = api.post(f"{T}/{topic['id']}/draws", json={"field": "人民调解", "count": 2}, headers=auth(op))
    _err(res, 409, "not_enough_experts")  # the deactivated notable is not in the pool
    drawn = _ok(api.post(f"{T}/{topic['id']}/draws", json={"field": "人民调解"}, headers=auth(op)), 201)
    assert drawn["pool"] == [lawyer["id"]]


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _import(api, token: str, data: bytes, name: str = "experts.xlsx", dry_run: bool = False):
    form = {"dry_run": "true"} if dry_run else {}
    return api.post(f"{X}/import", files={"file": (name, data)}, data=form, headers=auth(token))


HEADER = ["姓名", "电话", "单位", "职务职称", "类别", "擅长领域", "镇街", "回避地区", "在库"]


def test_an_import_reports_every_error_of_every_row_and_writes_nothing(api):
    op, sup = user_token(api, "operator"), user_token(api, "supervisor")
    town, other = _towns(api, op)[:2]
    bad = _xlsx(
        [
            HEADER,
            ["赵教授", "13811110001", "盐城师范学院", "教授", "政策专家", "经济管理、民政", town["name"], "", "是"],
            ["", "13811110002", "", "", "巫师", "城乡建设", "", "", ""],  # row 3: no name, unknown group
            ["钱律师", "13811110003", "律所", "", "法律人士", "", "火星镇", "", "也许"],  # row 4: three problems
            ["孙工", "13811110001", "", "", "行业人士", "城乡建设", "", "不存在村", ""],  # row 5: phone of row 2
            ["李乡贤", "13811110005", "", "", "乡贤", "人民调解", other["code"], "", ""],  # fine
        ]
    )
    for dry in (True, False):
        err = _err(_import(api, op, bad, dry_run=dry), 422, "import_failed")
        found = sorted((e["row"], e["field"], e["code"]) for e in err["details"]["errors"])
        assert found == [
            (3, "kind", "invalid_kind"),
            (3, "name", "name_required"),
            (4, "active", "invalid_active"),
            (4, "fields", "fields_required"),
            (4, "town", "unknown_town"),
            (5, "conflict_towns", "unknown_region"),
            (5, "phone", "duplicate_phone"),
        ]
        for e in err["details"]["errors"]:
            assert e["message_zh"] and e["message_en"] and e["message"] == f"{e['message_zh']} / {e['message_en']}"
        assert err["details"]["created"] == 0 and err["details"]["rows"] == 5
    assert _ok(api.get(X, headers=auth(op))) == []  # all or nothing: not even the good rows

    # the corrected sheet: checked first (nothing written), then imported
    good = _xlsx(
        [
            ["姓名 / name", "手机", "工作单位", "职称", "专家类别", "领域", "所在镇街", "回避镇街", "在库"],
            ["赵教授", "13811110001", "盐城师范学院", "教授", "政策专家", "经济管理、民政", town["name"], "", "是"],
            ["钱律师", "13811110003", "律所", "", "law", "法律咨询；人民调解", town["code"], other["name"], "否"],
            ["李乡贤", "13811110005", "", "", "乡贤", "人民调解", other["code"], "", ""],
        ]
    )
    checked = _ok(_import(api, op, good, dry_run=True))
    assert (checked["rows"], checked["errors"], checked["dry_run"]) == (3, [], True)
    assert _ok(api.get(X, headers=auth(op))) == []
    done = _ok(_import(api, op, good))
    assert (done["created"], done["errors"]) == (3, [])
    experts = {e["name"]: e for e in _ok(api.get(X, headers=auth(op)))}
    assert set(experts) == {"赵教授", "钱律师", "李乡贤"}
    qian = experts["钱律师"]
    assert (qian["kind"], qian["fields"], qian["active"]) == ("law", ["法律咨询", "人民调解"], False)
    assert (qian["town_code"], qian["conflict_towns"]) == (town["code"], [other["code"]])
    assert experts["李乡贤"]["kind"] == "notable" and experts["赵教授"]["title"] == "教授"

    # the same sheet again: every row is an expert already (same phone)
    again = _err(_import(api, op, good), 422, "import_failed")
    assert {(e["row"], e["code"]) for e in again["details"]["errors"]} == {
        (2, "expert_exists"),
        (3, "expert_exists"),
        (4, "expert_exists"),
    }

    # CSV in GBK; a missing required column is said before any row; supervisors may not import
    csv = "姓名,擅长领域,类别\n孙工,城乡建设,行业人士\n".encode("gbk")
    assert _ok(_import(api, op, csv, "experts.csv"))["created"] == 1
    err = _err(_import(api, op, "姓名,电话\n周某,13800000000\n".encode(), "x.csv"), 422, "import_failed")
    assert [(e["row"], e["field"], e["code"]) for e in err["details"]["errors"]] == [(1, "fields", "missing_column")]
    _err(_import(api, sup, good), 403, "forbidden")


def test_the_template_is_a_sheet_the_import_reads(api):
    op, sup = user_token(api, "operator"), user_token(api, "supervisor")
    res = api.get(f"{X}/import/template.xlsx", headers=auth(op))
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "experts-template.xlsx" in res.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(res.content))
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == HEADER
    assert len(wb.worksheets) == 3 and wb.worksheets[2].max_row == 17  # the header and the 16 towns
    ws.append(["测试专家", "13822220000", "单位", "", "部门业务骨干", "城乡建设", "", "", "是"])
    out = io.BytesIO()
    wb.save(out)
    assert _ok(_import(api, op, out.getvalue()))["created"] == 1
    assert api.get(f"{X}/import/template.xlsx", headers=auth(sup)).status_code == 403


def test_the_demo_think_tank_serves_a_draw(api):
    with Session(get_engine()) as session:
        counts = demo.load(session, members=20)
    assert 60 <= counts["experts"] <= 150
    op = user_token(api, "operator")
    experts = _ok(api.get(X, headers=auth(op)))
    assert len(experts) == counts["experts"]
    assert {e["kind"] for e in experts} == {"policy", "department", "law", "trade", "notable"}
    towns = {t["code"] for t in _towns(api, op)}
    assert {e["town_code"] for e in experts if e["kind"] == "notable"} == towns  # local notables in every town
    assert len({e["phone"] for e in experts}) == len(experts)
    fields = _ok(api.get(f"{X}/fields", headers=auth(op)))
    assert {"城乡建设", "法律咨询", "人民调解", "卫生计生"} <= set(fields)

    village = _ok(api.get("/api/regions?level=village", headers=auth(op)))[5]
    topic = _ok(
        api.post(T, json={"title": "村道硬化", "source": "plan", "village_code": village["code"]}, headers=auth(op)),
        201,
    )
    _ok(api.post(f"{T}/{topic['id']}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    for field in ("城乡建设", "人民调解", "法律咨询"):
        drawn = _ok(api.post(f"{T}/{topic['id']}/draws", json={"field": field, "count": 2}, headers=auth(op)), 201)
        assert len(drawn["picks"]) == 2 and len(drawn["pool"]) >= 3
