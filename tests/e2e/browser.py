"""Helpers for the browser tests: screenshots, pages as a phone or a wall screen, signing in."""

from __future__ import annotations

import os
import re
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = os.environ.get("SHANGLIANG_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


class Shots:
    """Numbered screenshots of one test, saved under tests/artifacts/<test name>/."""

    def __init__(self, name: str) -> None:
        self.dir = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, page, label: str, *, full_page: bool = True) -> Path:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


def new_page(browser, server, *, mobile: bool = False, geolocation: dict | None = None, javascript: bool = True):
    """A fresh browser context (its own cookies) on the test server: a phone or a wall screen."""
    opts = {
        "base_url": server.url,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "java_script_enabled": javascript,
    }
    if mobile:
        opts |= {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
        }
    else:
        opts |= {"viewport": {"width": 1920, "height": 1080}}
    if geolocation:
        opts |= {"geolocation": geolocation, "permissions": ["geolocation"]}
    context = browser.new_context(**opts)
    context.set_default_timeout(10_000)
    return context.new_page()


def login(page, username: str, password: str, next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(登录|Sign in)$")).click()
    page.wait_for_url(re.compile(re.escape(next_path) + r"$"))
