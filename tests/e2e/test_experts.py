"""The think tank page in Chromium: on the demo data an operator finds the experts, adds one through the form,
checks a sheet with mistakes (every row's errors shown, nothing imported), imports the corrected sheet, and
then draws experts for a topic; the page reads in English too, and a supervisor only reads."""

from __future__ import annotations

import io
import re

from helpers import PASSWORD, auth, user_token
from openpyxl import Workbook
from playwright.sync_api import expect
from sqlmodel import Session

from dispatch import demo
from dispatch.db import get_engine
from e2e.a11y import violations
from e2e.browser import login

T = "/api/consultations/topics"
X = "/api/consultations/experts"
OK = {k: {"ok": True} for k in ("political", "group_interest", "forward_looking", "democratic", "feasible")}
HEADER = ["姓名", "电话", "单位", "职务职称", "类别", "擅长领域", "镇街", "回避地区", "在库"]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _ok(res, status: int = 200):
    assert res.status_code == status, res.text
    return res.json()


def _sheet(tmp_path, name: str, rows: list[list]) -> str:
    wb = Workbook()
    for row in [HEADER, *rows]:
        wb.active.append(row)
    path = tmp_path / name
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())
    return str(path)


def test_operator_adds_and_imports_experts_then_draws_them(api, pages, shots, tmp_path):
    with Session(get_engine()) as session:
        counts = demo.load(session, members=20)
    op = user_token(api, "operator", "op-tank")
    user_token(api, "supervisor", "sup-tank")
    towns = _ok(api.get("/api/regions?level=town", headers=auth(op)))
    town = towns[3]

    page = pages()
    login(page, "op-tank", PASSWORD, "/consult")
    page.get_by_role("link", name="智库专家").click()
    page.wait_for_url(re.compile(r"/consult/experts$"))
    expect(page.locator("h1")).to_have_text("协商智库")
    active = len(_ok(api.get(X, params={"active": "true"}, headers=auth(op))))
    expect(page.locator("#x-table tbody tr")).to_have_count(active)
    assert 60 <= counts["experts"] <= 150
    page.get_by_label("类别").first.select_option("notable")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#x-table tbody tr").first).to_contain_text("乡贤")
    assert violations(page) == []
    shots(page, "demo-think-tank")

    # add an expert through the form
    form = page.locator("#x-form")
    form.get_by_label("姓名（必填）").fill("顾律师")
    form.get_by_label("类别").select_option("law")
    form.get_by_label("电话").fill("13866660001")
    form.get_by_label("工作单位").fill("江苏盐都律师事务所")
    form.get_by_label("职务或职称").fill("执业律师")
    form.get_by_label("所在镇街").select_option(town["code"])
    form.get_by_label("擅长领域（必填，多个用顿号或逗号分隔）").fill("法律咨询、人民调解")
    form.get_by_label(towns[0]["name"]).check()
    form.get_by_role("button", name="添加专家").click()
    expect(page.locator("#x-ok")).to_contain_text("已添加专家：顾律师")
    [added] = _ok(api.get(X, params={"q": "顾律师"}, headers=auth(op)))
    assert (added["kind"], added["fields"], added["town_code"]) == ("law", ["法律咨询", "人民调解"], town["code"])
    assert added["conflict_towns"] == [towns[0]["code"]]
    page.get_by_label("查找（姓名、单位、领域）").fill("顾律师")
    page.get_by_label("类别").first.select_option("")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#x-table tbody tr")).to_have_count(1)
    expect(page.locator("#x-table tbody tr")).to_contain_text("江苏盐都律师事务所")
    shots(page, "added")

    # a sheet with mistakes on several rows: every one shown, nothing imported
    before = len(_ok(api.get(X, headers=auth(op))))
    bad = _sheet(
        tmp_path,
        "bad.xlsx",
        [
            ["", "13866660002", "", "", "巫师", "城乡建设", "", "", ""],
            ["蒋工", "13866660003", "规划院", "", "行业人士", "", "火星镇", "", ""],
            ["沈老师", "13866660004", "", "退休教师", "乡贤", "教育文体", town["name"], "", ""],
        ],
    )
    page.get_by_label("选择文件").set_input_files(bad)
    page.get_by_role("button", name="检查（不导入）").click()
    expect(page.locator("#xi-result")).to_contain_text("发现 4 处错误，未导入任何专家")
    rows = page.locator("#xi-errors tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("2")
    expect(page.locator("#xi-errors")).to_contain_text("姓名不能为空")
    expect(page.locator("#xi-errors")).to_contain_text("类别无效：巫师")
    expect(page.locator("#xi-errors")).to_contain_text("未知的镇街：火星镇")
    expect(page.locator("#xi-errors")).to_contain_text("擅长领域不能为空")
    assert len(_ok(api.get(X, headers=auth(op)))) == before
    assert violations(page) == []
    shots(page, "import-errors")
    page.locator("#lang-switch").click()
    expect(page.locator("#xi-result")).to_contain_text("4 error(s) found; nothing was imported")
    expect(page.locator("#xi-errors")).to_contain_text("Unknown town: 火星镇")
    expect(page.locator("h1")).to_have_text("Think tank")
    shown = page.locator("main").inner_text()
    # in English only the data (names, places, fields, the sheet's own values) may be Chinese
    for label in (
        "Experts",
        "Add an expert",
        "Import",
        "Errors by row",
        "Group",
        "Fields",
        "Download the template (.xlsx)",
    ):
        assert label in shown, label
    for word in (
        "协商议事",
        "协商智库",
        "专家名录",
        "添加专家",
        "批量导入",
        "逐行错误",
        "类别",
        "擅长领域",
        "姓名不能为空",
    ):
        assert word not in shown, word
    shots(page, "english")
    page.locator("#lang-switch").click()

    # the corrected sheet is imported
    good = _sheet(
        tmp_path,
        "good.xlsx",
        [
            ["蒋工", "13866660003", "规划院", "高级工程师", "行业人士", "城乡建设", town["name"], "", "是"],
            ["沈老师", "13866660004", "", "退休教师", "乡贤", "教育文体、人民调解", town["name"], "", ""],
        ],
    )
    page.get_by_label("选择文件").set_input_files(good)
    page.get_by_role("button", name="检查（不导入）").click()
    expect(page.locator("#xi-result")).to_contain_text("检查通过：共 2 行，可以导入。")
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator("#xi-result")).to_contain_text("导入成功：已添加 2 名专家。")
    assert len(_ok(api.get(X, headers=auth(op)))) == before + 2
    shots(page, "imported")

    # a topic on the demo data: the draw finds enough experts
    village = next(
        v for v in _ok(api.get("/api/regions?level=village", headers=auth(op))) if v["parent_code"] == town["code"]
    )
    topic = _ok(
        api.post(
            T, json={"title": "邻里纠纷调处机制", "source": "plan", "village_code": village["code"]}, headers=auth(op)
        ),
        201,
    )
    _ok(api.post(f"{T}/{topic['id']}/screening", json={"decision": "accept", "principles": OK}, headers=auth(op)))
    page.goto(f"/consult/{topic['id']}")
    expect(page.locator("#t-status")).to_contain_text("已立题")
    expect(page.locator("#fields-list option[value='人民调解']")).to_have_count(1)
    page.get_by_label("领域").fill("人民调解")
    page.get_by_label("人数").fill("3")
    page.get_by_role("button", name="抽取", exact=True).click()
    draw = page.locator("#t-draws .draw").first
    expect(draw.locator(".pick")).to_have_count(3)
    expect(page.locator("#c-error")).to_be_hidden()
    [drawn] = _ok(api.get(f"{T}/{topic['id']}/draws", headers=auth(op)))
    assert len(drawn["picks"]) == 3 and len(drawn["pool"]) > 3
    expect(page.locator("#t-parts [data-participant-kind=expert]")).to_have_count(3)
    shots(page, "drawn")

    # a supervisor reads the think tank, without the forms
    sup = pages()
    login(sup, "sup-tank", PASSWORD, "/consult/experts")
    expect(sup.locator("#x-table tbody tr").first).to_be_visible()
    expect(sup.locator("#x-form")).to_have_count(0)
    expect(sup.locator("#x-import")).to_have_count(0)
    expect(sup.locator("#x-table tbody tr").first.locator("td").nth(4)).to_contain_text("****")
    shots(sup, "supervisor")
