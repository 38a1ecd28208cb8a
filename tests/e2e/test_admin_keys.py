"""The admin's API-keys tab: a "no keys" line while there are none, the "shown only once" box only right after a
key is issued; and the import's row errors in the page's language (issue 15, item 9)."""

from __future__ import annotations

import re

from helpers import PASSWORD, user_token
from playwright.sync_api import expect

from e2e.browser import login

CJK = re.compile(r"[\u3400-\u9fff]")


def _to_english(page) -> None:
    page.locator("#lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_no_keys_line_and_the_once_only_box_after_issuing(api, pages, shots):
    user_token(api, "admin", "keyadm")
    page = pages()
    login(page, "keyadm", PASSWORD, "/admin")
    page.wait_for_selector("body[data-loaded='1']")
    page.get_by_role("tab", name="API 密钥").click()
    panel = page.locator("#panel-apikeys")
    table = page.locator("#apikeys-table")
    expect(page.get_by_role("table", name=re.compile("API 密钥"))).to_be_visible()
    expect(table.locator("tbody")).to_have_text("还没有 API 密钥。")
    box = page.locator("#apikey-new")
    expect(box).to_be_hidden()
    expect(page.get_by_text("新密钥只显示这一次")).to_be_hidden()
    expect(page.locator("#apikey-raw")).to_be_hidden()
    shots(page, "keys-none-zh")

    _to_english(page)
    expect(table.locator("tbody")).to_have_text("No API keys yet.")
    expect(box).to_be_hidden()
    assert not CJK.search(panel.inner_text()), panel.inner_text()
    shots(page, "keys-none-en")
    page.locator("#lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    # issue one: the key is shown once, the list holds it, the "no keys" line is gone
    page.get_by_label("名称（调用方）").fill("区政务APP")
    page.get_by_role("button", name="签发", exact=True).click()
    expect(box).to_be_visible()
    expect(box).to_contain_text("新密钥只显示这一次")
    raw = page.locator("#apikey-raw")
    expect(raw).to_have_value(re.compile(r".{20,}"))
    row = table.locator("tbody tr", has_text="区政务APP")
    expect(row).to_be_visible()
    expect(table.locator("tbody")).not_to_contain_text("还没有 API 密钥")
    assert raw.input_value().startswith(row.locator("code").inner_text().rstrip("…"))
    shots(page, "keys-issued-zh")

    _to_english(page)
    expect(box).to_contain_text("The new key is shown this once")
    expect(page.locator("#adm-status")).not_to_contain_text("已签发")
    main = page.locator("main").inner_text().replace("区政务APP", "")
    assert not CJK.search(main), main
    shots(page, "keys-issued-en")

    # revoked: the box with its key goes; the list still holds the revoked key, so no "no keys" line either
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(box).to_be_hidden()
    expect(raw).to_have_value("")
    expect(row).to_contain_text("Revoked")
    expect(table.locator("tbody")).not_to_contain_text("No API keys yet")
    shots(page, "keys-revoked-en")

    # a reload: the key is not shown again, and the list is there
    page.reload()
    page.wait_for_selector("body[data-loaded='1']")
    page.get_by_role("tab", name="API keys").click()
    expect(table.locator("tbody tr", has_text="区政务APP")).to_be_visible()
    expect(box).to_be_hidden()


def test_import_errors_are_in_the_pages_language(api, pages, shots):
    user_token(api, "admin", "impadm")
    page = pages()
    login(page, "impadm", PASSWORD, "/admin")
    page.wait_for_selector("body[data-loaded='1']")
    page.get_by_role("tab", name="批量导入").click()
    bad = "姓名,电话,层级,镇街,纬度,经度\n,1380000,市长,火星镇,95,200\n".encode("gbk")
    page.get_by_label("选择文件").set_input_files({"name": "bad.csv", "mimeType": "text/csv", "buffer": bad})
    page.get_by_role("button", name=re.compile("检查")).click()
    errors = page.locator("#import-errors")
    expect(page.get_by_role("table", name="逐行错误")).to_be_visible()
    expect(errors.locator("tbody tr")).to_have_count(6)  # every problem of the row at once
    expect(errors).to_contain_text("电话号码无效：1380000")
    expect(errors).to_contain_text("B · 电话")
    expect(errors).not_to_contain_text("Invalid phone number")
    shots(page, "import-errors-zh")
    _to_english(page)
    expect(errors).to_contain_text("Invalid phone number: 1380000")
    expect(errors).to_contain_text("B · Phone")
    text = errors.inner_text().replace("火星镇", "").replace("市长", "")  # the file's own values
    assert not CJK.search(text), text
    shots(page, "import-errors-en")
