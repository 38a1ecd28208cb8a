"""The supervisors' inspection page and the admin pages in a real browser."""

from __future__ import annotations

import re
import time

from helpers import PASSWORD, api_key, auth, create_member, user_token
from playwright.sync_api import expect

from e2e.browser import login


def _wait_offer(api, op: str, case_id: int, member_id: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(f"/api/cases/{case_id}", headers=auth(op)).json().get("offered_to") == member_id:
            return
        time.sleep(0.1)
    raise AssertionError(f"case {case_id} was not offered to member {member_id}")


def _cases(api) -> tuple[dict, dict]:
    """Three hotline cases in one town (one resolved by its member), two in another."""
    op = user_token(api, "operator", "op")
    towns = api.get("/api/regions?level=town", headers=auth(op)).json()
    town_a, town_b = towns[0], towns[5]
    va = api.get(f"/api/regions?level=village&parent_code={town_a['code']}", headers=auth(op)).json()[0]
    vb = api.get(f"/api/regions?level=village&parent_code={town_b['code']}", headers=auth(op)).json()[0]
    member = create_member(api, op, name="陈委员", town_code=town_a["code"], lat=va["lat"], lon=va["lon"])
    key = {"X-API-Key": api_key()}
    ids = []
    for n, v in enumerate([va, va, va, vb, vb]):
        body = {"external_id": f"E2E-{n}", "content": f"路灯不亮 {n}", "lat": v["lat"] + 0.0005, "lon": v["lon"]}
        res = api.post("/api/intake/hotline", json=body, headers=key)
        assert res.status_code == 201, res.text
        ids.append(res.json()["id"])
    mtoken = user_token(api, "member", "chen", member["id"])
    _wait_offer(api, op, ids[0], member["id"])
    assert api.post(f"/api/cases/{ids[0]}/accept", headers=auth(mtoken)).status_code == 200
    res = api.post(f"/api/cases/{ids[0]}/resolve", json={"note": "已修复"}, headers=auth(mtoken))
    assert res.status_code == 200, res.text
    return town_a, town_b


def test_supervisor_reads_filters_switches_language_and_prints(api, pages, shots):
    town_a, town_b = _cases(api)
    user_token(api, "supervisor", "sup")
    page = pages()
    login(page, "sup", PASSWORD, "/inspect")
    page.wait_for_selector("body[data-loaded='1']")
    table = page.get_by_role("table", name=re.compile("各镇街受理"))
    row_a = table.get_by_role("row", name=re.compile(town_a["name"]))
    row_b = table.get_by_role("row", name=re.compile(town_b["name"]))
    assert row_a.locator("td").all_inner_texts()[:5] == ["3", "1", "33.3%", "100.0%", "—"]
    assert row_b.locator("td").all_inner_texts()[:5] == ["2", "0", "0.0%", "—", "—"]
    total = page.locator("#towns-table tfoot tr")
    assert total.locator("th").inner_text() == "合计"
    assert total.locator("td").first.inner_text() == "5"
    # both charts are images with a spoken summary of their figures
    intake_chart = page.get_by_role("img", name=re.compile("各镇街受理量"))
    assert f"{town_a['name']} 3" in intake_chart.get_attribute("aria-label")
    assert page.locator("#chart-intake svg").count() == 1 and page.locator("#chart-rates svg").count() == 1
    assert page.get_by_role("button", name="打印").is_visible()
    shots(page, "inspect-zh")

    page.get_by_label("镇街", exact=True).select_option(town_b["code"])
    page.get_by_role("button", name="查询").click()
    page.wait_for_function("() => document.querySelectorAll('#towns-table tbody tr').length === 1")
    rows = table.locator("tbody tr")
    assert rows.count() == 1 and town_b["name"] in rows.first.inner_text()
    assert total.locator("td").first.inner_text() == "2"
    assert f"town_code={town_b['code']}" in page.url
    shots(page, "inspect-one-town")

    page.get_by_role("button", name=re.compile("Switch language")).click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Inspection report"
    assert page.get_by_role("columnheader", name="Resolution rate").count() == 1
    assert total.locator("th").inner_text() == "Total"
    assert "Bar chart of intake per town" in page.locator("#chart-intake").get_attribute("aria-label")
    page.get_by_label("Town", exact=True).select_option("")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("() => document.querySelectorAll('#towns-table tbody tr').length === 2")
    shots(page, "inspect-en")

    # the print layout on an A4-wide page: no filters or navigation, charts fit the width
    page.set_viewport_size({"width": 794, "height": 1123})
    page.emulate_media(media="print")
    page.wait_for_timeout(300)
    assert not page.locator("#filters").is_visible() and not page.locator("header.top").is_visible()
    width = page.evaluate("document.querySelector('#chart-rates svg').getBoundingClientRect().width")
    assert width <= 794
    shots(page, "inspect-print")


def test_operator_is_refused_the_admin_page(api, pages, shots):
    user_token(api, "operator", "op9")
    page = pages()
    login(page, "op9", PASSWORD, "/board")
    res = page.goto("/admin")
    assert res.status == 403
    assert "无权访问" in page.content()
    shots(page, "admin-403")


def test_admin_creates_an_account_and_imports_members(api, pages, shots):
    admin = user_token(api, "admin", "root")
    page = pages()
    login(page, "root", PASSWORD, "/admin")
    page.wait_for_selector("body[data-loaded='1']")
    shots(page, "admin-accounts")

    form = page.locator("#user-form")
    form.get_by_label("用户名").fill("duty7")
    form.get_by_label(re.compile("初始密码")).fill("long-enough-7")
    form.get_by_label("角色").select_option("supervisor")
    form.get_by_role("button", name="创建").click()
    users = page.get_by_role("table", name="系统账号")
    users.get_by_role("row", name=re.compile("duty7")).wait_for()
    assert "督查人员" in users.get_by_role("row", name=re.compile("duty7")).inner_text()
    assert api.post("/api/auth/token", json={"username": "duty7", "password": "long-enough-7"}).status_code == 200
    shots(page, "admin-account-created")

    page.get_by_role("tab", name="批量导入").click()
    bad = "姓名,层级,镇街\n甲,镇,火星镇\n".encode("gbk")
    page.get_by_label("选择文件").set_input_files({"name": "bad.csv", "mimeType": "text/csv", "buffer": bad})
    page.get_by_role("button", name=re.compile("检查")).click()
    errors = page.get_by_role("table", name="逐行错误")
    errors.wait_for()
    assert "火星镇" in errors.locator("tbody tr").first.inner_text()
    shots(page, "admin-import-errors")

    towns = api.get("/api/regions?level=town", headers=auth(user_token(api, "operator", "opx"))).json()
    good = f"姓名,电话,层级,镇街,擅长类别,容量,在岗\n甲委员,13900000001,镇,{towns[0]['name']},城乡建设,3,是\n"
    good += "乙委员,13900000002,区,,,2,否\n"
    page.get_by_label("选择文件").set_input_files(
        {"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode("gbk")}
    )
    page.get_by_role("button", name=re.compile("检查")).click()
    page.get_by_text("检查通过：共 2 行").wait_for()
    assert not errors.is_visible()
    page.get_by_role("button", name="导入", exact=True).click()
    page.get_by_text("导入成功：已创建 2 名委员。").wait_for()
    shots(page, "admin-imported")

    page.get_by_role("tab", name="委员").click()
    members = page.get_by_role("table", name=re.compile("委员名单"))
    assert members.get_by_role("row", name=re.compile("甲委员")).is_visible()
    assert members.get_by_role("row", name=re.compile("乙委员")).is_visible()
    shots(page, "admin-members")

    # a member account: the member found by phone (or name, or town) among all members, not picked by id
    page.get_by_role("tab", name="账号").click()
    form.get_by_label("用户名").fill("yi")
    form.get_by_label(re.compile("初始密码")).fill("long-enough-8")
    form.get_by_label("角色").select_option("member")
    form.get_by_label(re.compile("查找委员")).fill("13900000002")
    yi_id = next(m["id"] for m in api.get("/api/members", headers=auth(admin)).json() if m["name"] == "乙委员")
    expect(form.get_by_label(re.compile("关联委员"))).to_have_value(str(yi_id))
    assert "乙委员" in form.get_by_label(re.compile("关联委员")).locator("option:checked").inner_text()
    form.get_by_role("button", name="创建").click()
    users.get_by_role("row", name=re.compile("乙委员")).wait_for()
    token = api.post("/api/auth/token", json={"username": "yi", "password": "long-enough-8"}).json()["access_token"]
    assert api.get("/api/auth/me", headers=auth(token)).json()["member_id"] == yi_id
