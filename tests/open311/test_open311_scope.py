"""FixMyStreet's servicerequestupdates: an Open311 key comments only on the requests it submitted, unless it holds
the explicit scope ``open311_updates_any``; a request that is not the key's answers exactly like an unknown one,
in the GeoReport v2 error format."""

from __future__ import annotations

from helpers import auth, user_token
from test_open311 import V2, body, good, records, spec_error
from typer.testing import CliRunner

from dispatch.cli import app


def _key(api, admin: str, name: str, *scopes: str) -> str:
    res = api.post("/api/open311/keys", json={"name": name, "scopes": list(scopes)}, headers=auth(admin))
    assert res.status_code == 201, res.text
    return res.json()["api_key"]


def _submit(api, key: str, v: dict) -> str:
    res = api.post(f"{V2}/requests.json", data=good(key, v))
    assert res.status_code == 200, res.text
    return res.json()[0]["service_request_id"]


def _comments(api, op: str, case_id: str) -> list[dict]:
    events = api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()
    return [e for e in events if e["action"] == "comment"]


def test_a_key_updates_only_its_own_requests_unless_scoped_for_any(api):
    admin, op = user_token(api, "admin"), user_token(api, "operator")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[3]
    first, second = _key(api, admin, "app A", "open311"), _key(api, admin, "app B", "open311")
    # the scope granted on the command line, as an integrator trusted with every case would get it
    result = CliRunner().invoke(
        app, ["apikeys", "create", "--name", "区FixMyStreet", "--scopes", "open311,open311_updates_any"]
    )
    assert result.exit_code == 0, result.output
    anyone = result.stdout.split()[-1]
    mine, theirs = _submit(api, first, v), _submit(api, second, v)
    phoned = api.post(
        "/api/cases", json={"content": "来电：井盖松动", "lat": v["lat"], "lon": v["lon"]}, headers=auth(op)
    )
    assert phoned.status_code == 201, phoned.text
    hotline = str(phoned.json()["id"])

    for fmt in ("json", "xml"):
        url = f"{V2}/servicerequestupdates.{fmt}"

        def update(key: str, request_id: str, fmt: str = fmt, url: str = url):
            return api.post(url, data={"api_key": key, "service_request_id": request_id, "description": f"补充 {fmt}"})

        # another key's request, a request from another channel, and no request at all: the same 404
        descriptions = [
            spec_error(update(first, theirs), fmt, 404).replace(theirs, "N"),
            spec_error(update(first, hotline), fmt, 404).replace(hotline, "N"),
            spec_error(update(first, "999999"), fmt, 404).replace("999999", "N"),
        ]
        assert descriptions[0] == descriptions[1] == descriptions[2], descriptions
        # its own request: the comment goes in
        res = update(first, mine)
        assert res.status_code == 200, res.text
        data = body(res, fmt)
        assert (records(data) if fmt == "xml" else data)[0]["update_id"]
        # the scoped key comments on any public request
        for request_id in (theirs, hotline):
            assert update(anyone, request_id).status_code == 200

    created = next(e for e in api.get(f"/api/cases/{mine}/events", headers=auth(op)).json() if e["action"] == "created")
    assert [c["actor"] for c in _comments(api, op, mine)] == [created["actor"]] * 2  # the submitting key's, twice
    for request_id in (theirs, hotline):
        comments = _comments(api, op, request_id)
        assert len(comments) == 2 and all(c["note"].startswith("补充") for c in comments)
        assert {c["actor"] for c in comments} == {comments[0]["actor"]}  # only the scoped key's
    # the admin API grants the scope too; an unknown scope is refused
    assert _key(api, admin, "any via API", "open311", "open311_updates_any").startswith("sl_")
    res = api.post("/api/open311/keys", json={"name": "x", "scopes": ["open311_everything"]}, headers=auth(admin))
    assert res.status_code == 422 and res.json()["error"]["code"] == "invalid_scopes"
