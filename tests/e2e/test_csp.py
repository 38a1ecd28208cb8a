"""Every page loads under its Content-Security-Policy without a single violation or console error."""

from __future__ import annotations

import pytest
from helpers import PASSWORD

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


@pytest.mark.settings(map_tile_url="https://tiles.example.cn/{z}/{x}/{y}.png")
def test_pages_load_without_csp_violations(pages, every_role, api, server):
    res = api.get("/login")
    csp = res.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "https://tiles.example.cn" in csp
    assert res.headers["x-frame-options"] == "DENY" and "geolocation=(self)" in res.headers["permissions-policy"]

    resident = pages(mobile=True)
    errors = _watch(resident)
    _visit(resident, errors, "/login")
    _visit(resident, errors, f"/q/{every_role['qr']}")
    _visit(resident, errors, f"/t/{every_role['case']['tracking_no']}#s={every_role['case']['secret']}")

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
