"""The operator sees category suggestions in the board's drawer and confirms one."""

from __future__ import annotations

from helpers import PASSWORD, auth, user_token
from playwright.sync_api import expect

from e2e.browser import login


def test_the_operator_confirms_a_suggested_category_on_the_board(api, pages, shots):
    op = user_token(api, "operator", "op")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[9]
    case = api.post(
        "/api/cases",
        headers=auth(op),
        json={"content": "公司拖欠我们三个月工资，老板一直不露面，工人讨薪无门", "lat": v["lat"], "lon": v["lon"]},
    ).json()
    page = pages()
    login(page, "op", PASSWORD, "/board")
    page.locator(f"[data-case-id='{case['id']}']").first.click()
    suggestions = page.locator("#category-suggestions")
    expect(suggestions).to_be_visible()
    expect(suggestions.locator("li").first).to_contain_text("劳动和社会保障")
    shots(page, "suggestions")
    suggestions.get_by_role("button", name="采用分类 劳动和社会保障").click()
    expect(page.get_by_text("分类已确认：劳动和社会保障")).to_be_visible()
    assert api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["category"] == "劳动和社会保障"
