"""CSRF: every cookie-authenticated write needs X-Requested-With and a same-site Origin; bearer calls do not."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.routing import APIRoute, iter_route_contexts
from helpers import api_key, auth, signed_in, user_token

from dispatch.auth.deps import optional_principal

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# writes that do not authenticate by the session: sign-in/out, residents' doors, machine doors
PUBLIC_WRITES = {
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/api/auth/token"),
    ("POST", "/api/intake/qr/{token}"),
    ("POST", "/q/{token}"),
    ("POST", "/mb/{token}"),
    ("POST", "/api/track/{tracking_no}/rating"),
    ("POST", "/t/{tracking_no}"),
}


def _calls(dependant) -> Iterator:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def write_routes() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(authenticated, unauthenticated) writes of the app, from its routes."""
    from dispatch.app import create_app

    app = create_app(start_background=False)
    authed, public = [], []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(route.methods & WRITES):
            (authed if optional_principal in set(_calls(route.dependant)) else public).append((method, ctx.path))
    return authed, public


def test_every_cookie_write_needs_the_anti_forgery_header(api, server):
    user_token(api, "admin", "boss")
    authed, public = write_routes()
    assert len(authed) > 40  # the app's writes were found
    unexpected = [r for r in public if r not in PUBLIC_WRITES and not r[1].startswith("/open311")]
    assert not unexpected, f"writes that authenticate without the session guard: {unexpected}"
    unprotected = []
    with signed_in(server, "boss") as client:
        for method, path in authed:
            url = re.sub(r"\{[^}]+\}", "1", path)
            res = client.request(method, url)
            code = (
                res.json().get("error", {}).get("code")
                if res.headers.get("content-type") == "application/json"
                else None
            )
            if res.status_code != 403 or code != "csrf_required":
                unprotected.append((method, path, res.status_code, code))
    assert not unprotected, f"cookie writes answered without the anti-forgery header: {unprotected}"


def test_a_cross_site_origin_is_refused_even_with_the_header(api, server):
    user_token(api, "operator", "op")
    body = {"content": "来电：井盖丢失", "lat": 33.3, "lon": 120.1}
    with signed_in(server, "op") as client:
        xrw = {"X-Requested-With": "shangliang"}
        for evil in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}):
            res = client.post("/api/cases", json=body, headers=xrw | evil)
            assert res.status_code == 403 and res.json()["error"]["code"] == "csrf_origin", evil
        same = {"Origin": server.url, "Referer": f"{server.url}/board"}
        assert client.post("/api/cases", json=body, headers=xrw | same).status_code == 201
        assert client.post("/api/cases", json=body, headers=xrw).status_code == 201  # no Origin: not a browser form


def test_bearer_and_key_calls_need_neither(api, server):
    op = user_token(api, "operator", "op")
    body = {"content": "来电：路灯不亮", "lat": 33.3, "lon": 120.1}
    res = api.post("/api/cases", json=body, headers=auth(op) | {"Origin": "https://elsewhere.example"})
    assert res.status_code == 201, res.text
    key = {"X-API-Key": api_key("hotline")}
    res = api.post("/api/intake/hotline", json={"external_id": "C-1", "content": "热线：漏水"}, headers=key)
    assert res.status_code == 201, res.text
