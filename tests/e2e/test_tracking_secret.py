"""The tracking page sends the resident's secret in a header, never in a URL (URLs end up in access logs)."""

from __future__ import annotations

from helpers import point_token, user_token
from playwright.sync_api import expect


def test_the_tracking_page_polls_with_the_secret_in_a_header(api, pages):
    op = user_token(api, "operator")
    form = {"content": "路灯不亮", "category": "城乡建设"}
    out = api.post(f"/api/intake/qr/{point_token(api, op)}", data=form).json()

    page = pages(mobile=True)
    seen: list[tuple[str, str | None]] = []
    page.on("request", lambda r: seen.append((r.url, r.headers.get("x-tracking-secret"))) if "/api/" in r.url else None)
    page.goto(f"/t/{out['tracking_no']}#s={out['secret']}")
    expect(page.locator("#status")).to_be_visible()
    page.get_by_role("button", name="刷新").click()
    expect(page.locator("#status")).to_be_visible()

    tracking = [(url, header) for url, header in seen if f"/api/track/{out['tracking_no']}" in url]
    assert len(tracking) >= 2, seen  # the first load and the refresh
    assert all(header == out["secret"] for _, header in tracking), tracking
    assert not [url for url, _ in seen if out["secret"] in url or "secret=" in url], seen
