"""Signing in and out in a real browser, and who may open which page."""

from __future__ import annotations

import re

from helpers import PASSWORD, user_token

from e2e.browser import login


def test_sign_in_reaches_the_role_home_and_sign_out_ends_the_session(api, pages, shots):
    user_token(api, "operator", "op1")
    page = pages()
    page.goto("/board")
    assert "/login" in page.url  # not signed in: to the login page, coming back afterwards
    shots(page, "login")
    login(page, "op1", PASSWORD, "/board")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shots(page, "board")
    page.get_by_role("button", name=re.compile("^(退出|Sign out)$")).click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto("/board")
    assert "/login" in page.url


def test_wrong_password_is_refused_with_a_message(api, pages):
    user_token(api, "operator", "op2")
    page = pages()
    page.goto("/login")
    page.get_by_label("用户名").fill("op2")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    assert page.locator("#login-error").inner_text().startswith("用户名或密码错误")
