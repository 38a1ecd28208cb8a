"""A query parameter an endpoint does not know is refused with 422, never silently ignored (a report asked with
``from``/``to`` used to answer for its 30-day default instead)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, iter_route_contexts
from helpers import auth, user_token

from dispatch.app import create_app
from dispatch.queryparams import ALWAYS_KNOWN, known_names


def _get_routes() -> list[tuple[str, frozenset[str]]]:
    """Every GET route of the API, with the query parameters it takes, from the app's own route table."""
    found = []
    for context in iter_route_contexts(create_app(start_background=False).routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path.startswith("/api/") and "GET" in context.methods:
            found.append((re.sub(r"\{[^}]+\}", "1", context.path), known_names(route.dependant)))
    return found


def test_every_get_route_refuses_an_unknown_parameter_and_takes_its_own(api, env):
    token = user_token(api, "admin", "adm")
    routes = _get_routes()
    assert len(routes) > 50, "the route table was read"
    for path, known in routes:
        res = api.get(path, params={"zz_unknown": "1"}, headers=auth(token))
        assert res.status_code == 422, (path, res.status_code, res.text[:200])
        error = res.json()["error"]
        assert error["code"] == "unknown_parameter", (path, error)
        assert error["details"]["unknown"] == ["zz_unknown"]
        assert set(error["details"]["known"]) == known - ALWAYS_KNOWN, path
        for name in known:
            res = api.get(path, params={name: "1"}, headers=auth(token))
            assert res.status_code != 422 or res.json()["error"]["code"] != "unknown_parameter", (path, name)


def test_a_misspelt_report_period_is_named_in_both_languages(api, env):
    token = user_token(api, "supervisor", "sup")
    res = api.get("/api/reports/towns", params={"from": "2026-01-01", "to": "2026-12-31"}, headers=auth(token))
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "unknown_parameter" and error["details"]["unknown"] == ["from", "to"]
    assert "不认识的查询参数：from, to" in error["message"] and "Unknown query parameter: from, to" in error["message"]
    assert {"start", "end"} <= set(error["details"]["known"])

    asked = api.get("/api/reports/towns", params={"start": "2026-01-01", "end": "2026-12-31"}, headers=auth(token))
    assert asked.status_code == 200, asked.text


def test_pages_and_open311_keep_their_own_rules(api, env):
    # a page ignores a tracking parameter a poster link may carry; GeoReport v2 defines its own parameters
    assert api.get("/login", params={"utm_source": "poster"}).status_code == 200
    assert api.get("/open311/v2/services.json", params={"jurisdiction_id": "320903"}).status_code != 422
