"""Open311 GeoReport v2 at /open311/v2: every endpoint and every error case of the specification, in XML and
JSON, plus page/page_size, FixMyStreet's servicerequestupdates and the admin's API keys."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
from helpers import PASSWORD, api_key, auth, create_member, user_token

V2 = "/open311/v2"
W3 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")  # whole seconds and an offset
FORMATS = ("xml", "json")
LEAF = "城乡建设/安全生产/安全隐患"  # service 0101, subcategory 010103


def body(res, fmt: str):
    """The answer as plain data: JSON as is; XML through the Spark convention (lists of dicts of text)."""
    expected = "text/xml; charset=utf-8" if fmt == "xml" else "application/json; charset=utf-8"
    assert res.headers["content-type"] == expected, res.headers["content-type"]
    if fmt == "json":
        return res.json()
    assert res.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(res.content)


def records(root: ET.Element) -> list[dict]:
    """<list><item><field>…</field></item></list> → [{field: text}] (nested elements as elements)."""
    return [{child.tag: (child.text or "") if len(child) == 0 else child for child in item} for item in root]


def spec_error(res, fmt: str, status: int) -> str:
    """Assert the specification's error format with this status; return the description."""
    assert res.status_code == status, res.text
    data = body(res, fmt)
    if fmt == "json":
        assert isinstance(data, list) and data and set(data[0]) == {"code", "description"}
        assert data[0]["code"] == status
        return data[0]["description"]
    assert data.tag == "errors"
    err = data.find("error")
    assert err.findtext("code") == str(status)
    return err.findtext("description")


@pytest.fixture
def village(api):
    op = user_token(api, "operator")
    villages = api.get("/api/regions?level=village", headers=auth(op)).json()
    return op, villages[3]


def post(api, fmt: str = "json", *, query: dict | None = None, **fields):
    return api.post(f"{V2}/requests.{fmt}", params=query, data=fields)


def good(key: str, v: dict, **extra) -> dict:
    fields = {
        "api_key": key,
        "service_code": "0101",
        "attribute[subcategory]": "010103",
        "lat": str(v["lat"]),
        "long": str(v["lon"]),
        "description": "路口井盖松动，有安全隐患",
    }
    return fields | extra


# ---- discovery, services, service definitions ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_names_the_endpoint_and_both_formats(api, fmt):
    res = api.get(f"{V2}/discovery.{fmt}")
    assert res.status_code == 200
    data = body(res, fmt)
    if fmt == "xml":
        assert data.tag == "discovery"
        ep = data.find("endpoints/endpoint")
        endpoint = {
            "specification": ep.findtext("specification"),
            "url": ep.findtext("url"),
            "type": ep.findtext("type"),
            "formats": [f.text for f in ep.findall("formats/format")],
        }
        changeset, contact, key_service = (data.findtext(k) for k in ("changeset", "contact", "key_service"))
    else:
        endpoint = data["endpoints"][0]
        changeset, contact, key_service = data["changeset"], data["contact"], data["key_service"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert changeset and contact and key_service


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_are_the_categories(api, fmt):
    res = api.get(f"{V2}/services.{fmt}")
    assert res.status_code == 200
    data = body(res, fmt)
    items = records(data) if fmt == "xml" else data
    if fmt == "xml":
        assert data.tag == "services" and all(el.tag == "service" for el in data)
    by_code = {s["service_code"]: s for s in items}
    assert set(items[0]) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    # 15 top-level categories, their 118 second-level ones, and 其他
    assert len(items) == 15 + 118 + 1
    assert by_code["01"]["service_name"] == "城乡建设" and by_code["01"]["group"] == "城乡建设"
    assert by_code["0101"]["service_name"] == "城乡建设 · 安全生产"  # the name recurs under another top level
    assert by_code["0101"]["group"] == "城乡建设" and "安全隐患" in by_code["0101"]["keywords"]
    assert by_code["99"]["service_name"] == "其他"
    assert {s["type"] for s in items} == {"realtime"}
    assert {str(s["metadata"]).lower() for s in items} == {"true"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_service_definition_lists_its_attributes(api, fmt):
    res = api.get(f"{V2}/services/0101.{fmt}")
    assert res.status_code == 200
    data = body(res, fmt)
    if fmt == "xml":
        assert data.tag == "service_definition"
        code = data.findtext("service_code")
        attrs = [
            {
                **{c.tag: c.text for c in a if c.tag != "values"},
                "values": [{"key": v.findtext("key"), "name": v.findtext("name")} for v in a.findall("values/value")],
            }
            for a in data.findall("attributes/attribute")
        ]
        for a in attrs:
            a["required"] = a["required"] == "true"
            a["order"] = int(a["order"])
    else:
        code, attrs = data["service_code"], data["attributes"]
    assert code == "0101"
    sub, urgency = attrs
    assert (sub["code"], sub["datatype"], sub["required"], sub["order"]) == ("subcategory", "singlevaluelist", True, 1)
    assert {"key": "010103", "name": "安全隐患"} in sub["values"]
    assert (urgency["code"], urgency["required"], urgency["order"]) == ("urgency", False, 2)
    assert [v["key"] for v in urgency["values"]] == ["normal", "urgent"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_code_is_404(api, fmt):
    assert "0199" in spec_error(api.get(f"{V2}/services/0199.{fmt}"), fmt, 404)


@pytest.mark.parametrize("path", ["services.yaml", "discovery.html", "requests", "requests/1.txt", "nothing.json"])
def test_unknown_format_or_endpoint_is_404_in_the_spec_format(api, path):
    res = api.get(f"{V2}/{path}")
    fmt = "json" if path.endswith(".json") else "xml"
    spec_error(res, fmt, 404)


# ---- POST requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_posted_request_is_a_case_dispatched_like_any_other(api, village, fmt):
    op, v = village
    member = create_member(api, op, name="近处委员", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    key = api_key("open311")
    res = post(
        api,
        fmt,
        **good(
            key,
            v,
            first_name="三",
            last_name="张",
            phone="13812345678",
            email="z3@example.com",
            account_id="acct-9",
            media_url="https://img.example/1.jpg",
        ),
    )
    assert res.status_code == 200, res.text
    data = body(res, fmt)
    first = records(data)[0] if fmt == "xml" else data[0]
    if fmt == "xml":
        assert data.tag == "service_requests" and data[0].tag == "request"
    assert "token" not in first  # realtime: the id, not a token (the specification: one or the other)
    assert first["account_id"] == "acct-9"
    case_id = int(first["service_request_id"])
    assert "YD" in first["service_notice"]
    # the board's API shows it, from channel open311, offered to the nearest member like any case
    cases = api.get("/api/cases?channel=open311", headers=auth(op)).json()
    assert [c["id"] for c in cases] == [case_id]
    case = cases[0]
    assert case["category"] == LEAF and case["status"] == "offered" and case["offered_to"] == member["id"]
    assert case["reporter_name"] == "张三" and case["reporter_phone"] == "13812345678"
    assert case["content"] == "路口井盖松动，有安全隐患" and case["village_code"] == v["code"]
    trail = api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json()
    assert trail[0]["action"] == "created" and trail[0]["data"]["channel"] == "open311"
    assert any(e["action"] == "open311" and "https://img.example/1.jpg" in e["note"] for e in trail)


def test_multipart_address_id_query_key_and_empty_optionals(api, village):
    op, v = village
    key = api_key("open311")
    # api_key and jurisdiction_id in the query string; multipart body; located by address_id (a village code)
    res = api.post(
        f"{V2}/requests.json",
        params={"api_key": key, "jurisdiction_id": "yandu.gov.cn"},
        files={"service_code": (None, "99"), "address_id": (None, v["code"]), "description": (None, "路灯不亮")},
    )
    assert res.status_code == 200, res.text
    by_address = api.get(f"/api/cases/{res.json()[0]['service_request_id']}", headers=auth(op)).json()
    assert (by_address["village_code"], by_address["lat"], by_address["lon"]) == (v["code"], v["lat"], v["lon"])
    assert by_address["category"] == "其他"
    # empty optional arguments are the same as absent ones (jurisdiction_id, email, lat/long, urgency, media_url)
    res = post(
        api,
        api_key=key,
        jurisdiction_id="",
        service_code="0101",
        **{"attribute[subcategory]": "010101", "attribute[urgency]": ""},
        address_string=f"{v['name']}村口",
        lat="",
        long="",
        email="",
        media_url="",
        device_id="",
        description="",
    )
    assert res.status_code == 200, res.text
    case = api.get(f"/api/cases/{res.json()[0]['service_request_id']}", headers=auth(op)).json()
    assert case["urgency"] == "normal" and case["category"] == "城乡建设/安全生产/事故处理"
    assert case["address"] == f"{v['name']}村口"
    assert case["content"]  # no description: the service's name stands in
    # an urgent one
    res = post(api, **good(key, v, **{"attribute[urgency]": "urgent"}))
    assert api.get(f"/api/cases/{res.json()[0]['service_request_id']}", headers=auth(op)).json()["urgency"] == "urgent"


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_errors_in_the_spec_format(api, village, fmt):
    op, v = village
    key = api_key("open311")
    admin = user_token(api, "admin")
    # api_key: missing, wrong, of another door only, revoked → 403
    spec_error(post(api, fmt, **{k: x for k, x in good(key, v).items() if k != "api_key"}), fmt, 403)
    spec_error(post(api, fmt, **good("sl_not-a-key", v)), fmt, 403)
    spec_error(post(api, fmt, **good(api_key("hotline"), v)), fmt, 403)
    issued = api.post("/api/open311/keys", json={"name": "app"}, headers=auth(admin)).json()
    assert post(api, fmt, **good(issued["api_key"], v)).status_code == 200
    assert api.delete(f"/api/open311/keys/{issued['id']}", headers=auth(admin)).status_code == 200
    assert "api_key" in spec_error(post(api, fmt, **good(issued["api_key"], v)), fmt, 403)
    # jurisdiction_id of someone else → 404; ours (any case) → fine
    spec_error(post(api, fmt, **good(key, v, jurisdiction_id="sfgov.org")), fmt, 404)
    spec_error(post(api, fmt, query={"jurisdiction_id": "sfgov.org"}, **good(key, v)), fmt, 404)
    assert post(api, fmt, **good(key, v, jurisdiction_id="Yandu.gov.cn")).status_code == 200
    # service_code missing → 400, unknown → 404
    assert "service_code" in spec_error(post(api, fmt, **good(key, v, service_code="")), fmt, 400)
    assert "service_code" in spec_error(post(api, fmt, **good(key, v, service_code="7777")), fmt, 404)
    # location: none, half, not a number, outside China, unknown address_id → 400
    nowhere = {k: x for k, x in good(key, v).items() if k not in ("lat", "long")}
    spec_error(post(api, fmt, **nowhere), fmt, 400)
    spec_error(post(api, fmt, **nowhere, lat=str(v["lat"])), fmt, 400)
    spec_error(post(api, fmt, **good(key, v, lat="north")), fmt, 400)
    spec_error(post(api, fmt, **good(key, v, lat="48.85", long="2.35")), fmt, 400)
    spec_error(post(api, fmt, **nowhere, address_id="999999"), fmt, 400)
    # attributes: the required one missing, a value not in the list, two values for a single-value list → 400
    missing = {k: x for k, x in good(key, v).items() if not k.startswith("attribute")}
    assert "subcategory" in spec_error(post(api, fmt, **missing), fmt, 400)
    spec_error(post(api, fmt, **good(key, v, **{"attribute[subcategory]": "020101"})), fmt, 400)
    spec_error(post(api, fmt, **good(key, v, **{"attribute[urgency]": "asap"})), fmt, 400)
    pairs = [*good(key, v).items(), ("attribute[subcategory][]", "010101"), ("attribute[subcategory][]", "010102")]
    res = api.post(
        f"{V2}/requests.{fmt}",
        content=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    spec_error(res, fmt, 400)
    # other fields: too long, not a URL, not form-encoded → 400 (never FastAPI's 422)
    spec_error(post(api, fmt, **good(key, v, description="长" * 4001)), fmt, 400)
    spec_error(post(api, fmt, **good(key, v, media_url="javascript:alert(1)")), fmt, 400)
    spec_error(post(api, fmt, **good(key, v, email="nobody")), fmt, 400)
    spec_error(api.post(f"{V2}/requests.{fmt}", params={"api_key": key}, json=good(key, v)), fmt, 400)
    # none of the refused posts made a case
    assert len(api.get("/api/cases?channel=open311", headers=auth(op)).json()) == 2


# ---- GET requests, GET a request, tokens ---------------------------------------------------------------


def hotline(api, v, **fields) -> int:
    body_ = {
        "external_id": fields.pop("external_id"),
        "content": "家门口 13900001111 路灯坏了，身份证 320903199001011234",
        "caller_phone": "13900001111",
        "caller_name": "李四",
        "category": "城乡建设/城市建设和市政管理/城市公共设施",
        "lat": v["lat"] + 0.00123,
        "lon": v["lon"],
    } | fields
    res = api.post("/api/intake/hotline", json=body_, headers={"X-API-Key": api_key("hotline")})
    assert res.status_code == 201, res.text
    return res.json()["id"]


def as_list(res, fmt: str) -> list[dict]:
    assert res.status_code == 200, res.text
    data = body(res, fmt)
    if fmt == "xml":
        assert data.tag == "service_requests" and all(el.tag == "request" for el in data)
        return records(data)
    return data


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_requests_shows_every_channel_without_personal_data(api, village, fmt):
    op, v = village
    key = api_key("open311")
    mine = int(
        post(api, **good(key, v, description="井盖松动，联系 13812345678 或 a.b@example.com")).json()[0][
            "service_request_id"
        ]
    )
    other = hotline(api, v, external_id="h-1")
    secret = hotline(api, v, external_id="h-2", confidential=True)
    items = as_list(api.get(f"{V2}/requests.{fmt}"), fmt)
    by_id = {int(r["service_request_id"]): r for r in items}
    assert set(by_id) == {mine, other}  # the confidential case is not published
    fields = [
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
        "address", "address_id", "zipcode", "lat", "long", "media_url",
    ]  # fmt: skip
    assert list(items[0]) == fields
    own = by_id[mine]
    assert own["status"] == "open" and own["service_code"] == "0101"
    assert own["description"] == "井盖松动，联系 138****5678 或 ***@example.com"
    assert float(own["lat"]) == v["lat"] and own["address_id"] == v["code"]
    for r in items:
        for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert W3.match(r[name]), r[name]
    # another channel's case: status, service and place, but neither its text nor the exact spot
    hot = by_id[other]
    assert hot["service_code"] == "0102" and hot["service_name"] == "城市建设和市政管理"
    assert hot["description"] in (None, "")
    assert float(hot["lat"]) == round(v["lat"] + 0.00123, 3)
    text = str(items)
    assert "13900001111" not in text and "李四" not in text and "320903199001011234" not in text
    # one request; an unknown, a confidential or a malformed id → 404
    one = as_list(api.get(f"{V2}/requests/{mine}.{fmt}"), fmt)
    assert [r["service_request_id"] for r in one] == [str(mine)]
    for missing in (999999, secret, "abc"):
        spec_error(api.get(f"{V2}/requests/{missing}.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_requests_filters_and_pages(api, village, fmt):
    op, v = village
    key = api_key("open311")
    ids = [int(post(api, **good(key, v, description=f"第{i}件")).json()[0]["service_request_id"]) for i in range(5)]
    other = int(post(api, **good(key, v, service_code="99")).json()[0]["service_request_id"])
    # resolve one (closed in GeoReport terms)
    admin = user_token(api, "admin")
    m = create_member(api, op, name="办理人", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"], capacity=10)
    member = user_token(api, "member", member_id=m["id"])
    case = api.get(f"/api/cases/{ids[0]}", headers=auth(admin)).json()
    if case["status"] != "offered":
        api.post(f"/api/cases/{ids[0]}/assign", json={"member_id": m["id"]}, headers=auth(op))
    else:
        assert api.post(f"/api/cases/{ids[0]}/accept", headers=auth(member)).status_code == 200
    res = api.post(f"/api/cases/{ids[0]}/resolve", json={"note": "已更换井盖"}, headers=auth(member))
    assert res.status_code == 200, res.text

    def got(**params) -> list[int]:
        query = "&".join(f"{k}={quote(str(x), safe=',')}" for k, x in params.items())
        return [int(r["service_request_id"]) for r in as_list(api.get(f"{V2}/requests.{fmt}?{query}"), fmt)]

    newest_first = [other, *reversed(ids)]
    assert got() == newest_first
    assert got(service_code="0101") == list(reversed(ids))
    assert got(service_code="99,0101") == newest_first
    assert got(service_code="01") == []
    assert got(status="closed") == [ids[0]]
    assert got(status="open") == [i for i in newest_first if i != ids[0]]
    assert got(status="open,closed") == newest_first
    # service_request_id overrides every other argument, in the order asked
    assert got(service_request_id=f"{ids[2]},{other}", status="closed", service_code="0101") == [ids[2], other]
    # page and page_size
    assert got(page_size=2) == newest_first[:2]
    assert got(page_size=2, page=3) == newest_first[4:6]
    assert got(page_size=2, page=4) == []
    # the date window: requested_datetime inside it
    now = datetime.now().astimezone()
    assert got(start_date=(now - timedelta(hours=1)).isoformat(timespec="seconds")) == newest_first
    assert got(end_date=(now - timedelta(hours=1)).isoformat(timespec="seconds")) == []
    start = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(days=1)).isoformat(timespec="seconds")
    assert got(start_date=start, end_date=end) == newest_first
    closed = as_list(api.get(f"{V2}/requests/{ids[0]}.{fmt}"), fmt)[0]
    assert closed["status"] == "closed" and "已更换井盖" in closed["status_notes"]
    assert W3.match(closed["updated_datetime"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_requests_argument_errors(api, fmt):
    def err(query: str, status: int = 400) -> str:
        return spec_error(api.get(f"{V2}/requests.{fmt}?{query}"), fmt, status)

    assert "90" in err("start_date=2026-01-01T00:00:00Z&end_date=2026-04-02T00:00:00Z")
    err("start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z")
    err("start_date=yesterday")
    err("end_date=2026-13-45T00:00:00Z")
    err("status=pending")
    err("service_code=7777")
    err("service_request_id=1,x")
    err("page=0")
    err("page_size=-3")
    err("jurisdiction_id=sfgov.org", 404)
    # exactly 90 days, empty optional arguments and our jurisdiction are fine
    for ok in ("start_date=2026-01-01T00:00:00Z&end_date=2026-04-01T00:00:00Z", "status=&service_code=&page="):
        assert api.get(f"{V2}/requests.{fmt}?{ok}&jurisdiction_id=yandu.gov.cn").status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_tokens_resolve_tracking_numbers(api, village, fmt):
    op, v = village
    case_id = int(post(api, **good(api_key("open311"), v)).json()[0]["service_request_id"])
    tracking = api.get(f"/api/cases/{case_id}", headers=auth(op)).json()["tracking_no"]
    data = as_list(api.get(f"{V2}/tokens/{tracking}.{fmt}"), fmt)
    assert data == [{"service_request_id": str(case_id), "token": tracking}]
    spec_error(api.get(f"{V2}/tokens/YD20000101-9999.{fmt}"), fmt, 404)


# ---- servicerequestupdates (FixMyStreet) -----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_updates(api, village, fmt):
    op, v = village
    m = create_member(api, op, name="办理人", town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    member = user_token(api, "member", member_id=m["id"])
    key = api_key("open311")
    case_id = post(api, **good(key, v)).json()[0]["service_request_id"]
    assert api.post(f"/api/cases/{case_id}/accept", headers=auth(member)).status_code == 200
    url = f"{V2}/servicerequestupdates.{fmt}"
    comment = {
        "api_key": key,
        "service_request_id": case_id,
        "update_id": "fms-77",
        "status": "CLOSED",
        "description": "居民反映：还是松动",
        "updated_datetime": "2026-11-22T09:00:00Z",
        "first_name": "Bob",
        "last_name": "Mould",
        "email": "bob@example.com",
        "media_url": "https://img.example/2.jpg",
    }
    res = api.post(url, data=comment)
    assert res.status_code == 200, res.text
    data = body(res, fmt)
    update_id = records(data)[0]["update_id"] if fmt == "xml" else data[0]["update_id"]
    if fmt == "xml":
        assert data.tag == "service_request_updates" and data[0].tag == "request_update"
    # the same client update again is the same update (no second note)
    again = api.post(url, data=comment)
    again_id = records(body(again, fmt))[0]["update_id"] if fmt == "xml" else again.json()[0]["update_id"]
    assert again_id == update_id
    # a note in the case's trail: the status is the case's own, not the one asked for
    case = api.get(f"/api/cases/{case_id}", headers=auth(op)).json()
    assert case["status"] == "assigned"
    notes = [e for e in api.get(f"/api/cases/{case_id}/events", headers=auth(op)).json() if e["action"] == "comment"]
    assert len(notes) == 1 and notes[0]["note"] == "居民反映：还是松动"
    assert notes[0]["data"]["requested_status"] == "closed" and notes[0]["actor"].startswith("apikey:")
    # GET: the case's public steps and the comment, oldest first, with FixMyStreet's statuses
    res = api.get(url)
    assert res.status_code == 200
    data = body(res, fmt)
    items = records(data) if fmt == "xml" else data
    mine = [u for u in items if u["service_request_id"] == case_id]
    assert [u["status"] for u in mine] == ["open", "action_scheduled", "action_scheduled"]
    assert [u["external_status_code"] for u in mine] == ["offered", "assigned", "assigned"]
    assert mine[-1]["update_id"] == update_id and mine[-1]["description"] == "居民反映：还是松动"
    assert mine[-1]["media_url"] == "https://img.example/2.jpg"
    assert all(W3.match(u["updated_datetime"]) for u in mine)
    assert set(mine[0]) == {
        "update_id", "service_request_id", "status", "updated_datetime", "description", "media_url",
        "external_status_code",
    }  # fmt: skip
    # a window before the case: nothing; page_size bounds the list
    assert body(api.get(url, params={"end_date": "2020-01-01T00:00:00Z"}), fmt) is not None
    early = api.get(url, params={"end_date": "2020-01-01T00:00:00Z"})
    assert (len(body(early, fmt)) if fmt == "xml" else len(early.json())) == 0
    one = api.get(url, params={"page_size": 1})
    assert (len(body(one, fmt)) if fmt == "xml" else len(one.json())) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_update_errors(api, village, fmt):
    op, v = village
    key = api_key("open311")
    case_id = post(api, **good(key, v)).json()[0]["service_request_id"]
    url = f"{V2}/servicerequestupdates.{fmt}"
    ok = {"api_key": key, "service_request_id": case_id, "description": "补充说明", "status": "OPEN"}
    spec_error(api.post(url, data={k: x for k, x in ok.items() if k != "api_key"}), fmt, 403)
    spec_error(api.post(url, data=ok | {"api_key": "sl_wrong"}), fmt, 403)
    spec_error(api.post(url, data=ok | {"service_request_id": "999999"}), fmt, 404)
    spec_error(api.post(url, data=ok | {"service_request_id": ""}), fmt, 400)
    spec_error(api.post(url, data=ok | {"description": ""}), fmt, 400)
    spec_error(api.post(url, data=ok | {"status": "MAYBE"}), fmt, 400)
    spec_error(api.post(url, data=ok | {"updated_datetime": "soon"}), fmt, 400)
    spec_error(api.post(url, data=ok | {"jurisdiction_id": "sfgov.org"}), fmt, 404)
    spec_error(
        api.get(url, params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}), fmt, 400
    )
    assert (
        api.post(url, params={"api_key": key}, data={k: x for k, x in ok.items() if k != "api_key"}).status_code == 200
    )


# ---- API keys ------------------------------------------------------------------------------------------


def test_admins_issue_list_and_revoke_keys(api, village):
    _, v = village
    admin = user_token(api, "admin")
    for role in ("operator", "supervisor"):
        other = user_token(api, role, f"{role}-k")
        assert api.post("/api/open311/keys", json={"name": "x"}, headers=auth(other)).status_code == 403
        assert api.get("/api/open311/keys", headers=auth(other)).status_code == 403
    assert api.post("/api/open311/keys", json={"name": "x"}).status_code == 401
    res = api.post("/api/open311/keys", json={"name": "随手拍 App"}, headers=auth(admin))
    assert res.status_code == 201, res.text
    issued = res.json()
    assert issued["api_key"].startswith(issued["prefix"]) and issued["scopes"] == ["open311"] and issued["active"]
    both = api.post(
        "/api/open311/keys", json={"name": "平台", "scopes": ["hotline", "open311"]}, headers=auth(admin)
    ).json()
    assert both["scopes"] == ["hotline", "open311"]
    assert api.post("/api/open311/keys", json={"name": "x", "scopes": ["root"]}, headers=auth(admin)).status_code == 422
    assert api.post("/api/open311/keys", json={"name": " "}, headers=auth(admin)).status_code == 422
    listed = api.get("/api/open311/keys", headers=auth(admin)).json()
    assert [k["name"] for k in listed] == ["平台", "随手拍 App"]
    assert all("api_key" not in k for k in listed) and issued["api_key"] not in str(listed)
    assert post(api, **good(issued["api_key"], v)).status_code == 200
    res = api.delete(f"/api/open311/keys/{issued['id']}", headers=auth(admin))
    assert res.status_code == 200 and res.json()["active"] is False and res.json()["revoked_at"]
    assert api.delete(f"/api/open311/keys/{issued['id']}", headers=auth(admin)).status_code == 200  # idempotent
    assert post(api, **good(issued["api_key"], v)).status_code == 403
    assert api.delete("/api/open311/keys/99999", headers=auth(admin)).status_code == 404
    assert (
        api.delete(f"/api/open311/keys/{both['id']}", headers=auth(user_token(api, "operator", "op2"))).status_code
        == 403
    )


def test_the_admin_page_has_the_api_keys_section(api):
    user_token(api, "admin", "adm")
    res = api.post("/login", data={"username": "adm", "password": PASSWORD, "next": "/admin"}, follow_redirects=True)
    assert res.status_code == 200
    assert 'id="panel-apikeys"' in res.text and 'id="apikey-form"' in res.text
