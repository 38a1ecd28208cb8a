"""Every page loads under its Content-Security-Policy without a single violation or console error."""

from __future__ import annotations

import pytest
from helpers import PASSWORD, auth, create_member, user_token

from e2e.browser import login

WATCH = """() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "")));
}"""


def _watch(page) -> list[str]:
    errors: list[str] = []
    page.add_init_script(f"({WATCH})()")
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _visit(page, errors: list[str], path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    found = page.evaluate("() => window.__csp || []")
    assert found == [], f"{path}: CSP violations {found}"
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == [], f"{path}: {errors}"


@pytest.fixture
def world(api):
    adm = user_token(api, "admin", "adm")
    user_token(api, "operator", "op")
    user_token(api, "supervisor", "sup")
    member = create_member(api, adm, name="王委员", level="district", lat=33.35, lon=120.15)
    user_token(api, "member", "wang", member_id=member["id"])
    village = api.get("/api/regions", params={"level": "village"}, headers=auth(adm)).json()[0]
    point = {"name": "议事室", "kind": "consultation_room", "village_code": village["code"]}
    token = api.post("/api/points", json=point, headers=auth(adm)).json()["qr_token"]
    case = api.post(
        "/api/cases", json={"content": "来电：路灯不亮", "lat": 33.3, "lon": 120.1}, headers=auth(adm)
    ).json()
    return {"qr": token, "case": case}


@pytest.mark.settings(map_tile_url="https://tiles.example.cn/{z}/{x}/{y}.png")
def test_pages_load_without_csp_violations(pages, world, api, server):
    res = api.get("/login")
    csp = res.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "https://tiles.example.cn" in csp
    assert res.headers["x-frame-options"] == "DENY" and "geolocation=(self)" in res.headers["permissions-policy"]

    resident = pages(mobile=True)
    errors = _watch(resident)
    _visit(resident, errors, "/login")
    _visit(resident, errors, f"/q/{world['qr']}")
    _visit(resident, errors, f"/t/{world['case']['tracking_no']}#s={world['case']['secret']}")

    for user, paths in (
        ("adm", ["/admin", "/admin/audit", "/consult", "/inspect"]),
        ("op", ["/board"]),
        ("wang", ["/m"]),
    ):
        page = pages()
        errors = _watch(page)
        login(page, user, PASSWORD, paths[0])
        for path in paths:
            _visit(page, errors, path)
