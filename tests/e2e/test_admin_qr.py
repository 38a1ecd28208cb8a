"""The admin's QR work in the browser: a new code for a point, and the poster downloads."""

from __future__ import annotations

from helpers import PASSWORD, auth, user_token
from playwright.sync_api import expect

from e2e.browser import login


def test_admin_rotates_a_points_code_and_downloads_posters(api, pages, shots):
    admin = user_token(api, "admin", "adm")
    v = api.get("/api/regions?level=village", headers=auth(admin)).json()[5]
    point = api.post(
        "/api/points",
        headers=auth(admin),
        json={"name": "村委会联系点", "kind": "opinion_point", "village_code": v["code"]},
    ).json()
    page = pages()
    login(page, "adm", PASSWORD, "/admin")
    page.get_by_role("tab", name="点位").click()
    row = page.locator("#points-table tbody tr", has_text="村委会联系点")
    expect(row).to_be_visible()
    expect(row.get_by_role("link", name="A4海报")).to_have_attribute("href", f"/api/points/{point['id']}/poster.pdf")
    expect(row.get_by_role("link", name=point["qr_url"])).to_have_attribute("href", point["qr_url"])  # where it leads
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="更换二维码").click()
    expect(page.get_by_text("已更换二维码")).to_be_visible()
    shots(page, "rotated")
    new_token = api.get(f"/api/points/{point['id']}", headers=auth(admin)).json()["qr_token"]
    assert new_token != point["qr_token"]
    expect(row.locator("a.point-url")).to_have_text(point["qr_url"].replace(point["qr_token"], new_token))
    old = page.context.new_page()
    res = old.goto(f"/q/{point['qr_token']}")
    assert res.status == 410
    expect(old.get_by_text("此二维码已更换", exact=True)).to_be_visible()
    expect(old.locator("main")).to_contain_text("村委会联系点")
    # the town's posters in one PDF, from the form on the same tab
    page.locator("#posters-town").select_option(v["parent_code"])
    with page.expect_download() as download:
        page.get_by_role("button", name="下载该镇街全部海报（PDF）").click()
    assert download.value.suggested_filename.endswith(".pdf")
