"""Every page, and the API docs, load from this server alone: no request leaves 127.0.0.1 and none is a 404
(an intranet without internet, a phone with no route to a CDN, the favicon every browser asks for)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from helpers import PASSWORD, auth

from e2e.browser import login


def _record(page, seen: list[tuple[str, int | None, str]]) -> None:
    page.on("response", lambda r: seen.append((r.url, r.status, "")))
    page.on("requestfailed", lambda r: seen.append((r.url, None, r.failure or "failed")))


def test_every_page_loads_only_from_this_server_and_nothing_is_missing(api, pages, shots, every_role):
    case = every_role["case"]
    topic = api.post(
        "/api/consultations/topics",
        json={"title": "路灯整治", "description": "同一问题", "case_ids": [case["id"]]},
        headers=auth(every_role["admin"]),
    ).json()

    seen: list[tuple[str, int | None, str]] = []
    visits = [
        (None, True, ["/", "/login", f"/q/{every_role['qr']}", f"/t/{case['tracking_no']}#s={case['secret']}"]),
        (
            "adm",
            False,
            [
                "/admin",
                "/admin/audit",
                "/consult",
                f"/consult/{topic['id']}",
                "/inspect",
                "/callbacks",
                "/docs",
                "/redoc",
            ],
        ),
        ("op", False, ["/board"]),
        ("wang", True, ["/m"]),
    ]
    for user, mobile, paths in visits:
        page = pages(mobile=mobile)
        _record(page, seen)
        if user:
            login(page, user, PASSWORD, paths[0])
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if path in ("/docs", "/redoc"):  # the documentation rendered, not a blank page
                page.locator(
                    ".swagger-ui .info .title" if path == "/docs" else "redoc h1, [role=search]"
                ).first.wait_for()
                shots(page, path.strip("/"), full_page=False)  # one screen: the page is long
    paths_seen = {re.sub(r"\.[0-9a-f]{10}(\.\w+)$", r"\1", urlsplit(url).path) for url, _, _ in seen}
    assert {"/openapi.json", "/static/vendor/swagger-ui/swagger-ui-bundle.js"} <= paths_seen
    # headless Chromium asks for no icon; every other browser does, on every page
    icon = api.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert '<link rel="icon" href="/favicon.ico"' in api.get("/login").text
    elsewhere = sorted({url for url, _, _ in seen if urlsplit(url).hostname not in ("127.0.0.1", None)})
    assert elsewhere == [], elsewhere
    missing = sorted({url for url, status, _ in seen if status == 404})
    assert missing == [], missing
    failed = sorted({(url, why) for url, status, why in seen if status is None and "ERR_ABORTED" not in why})
    assert failed == [], failed
