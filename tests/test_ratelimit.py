"""Rate limits on the public doors: per address and per token, 429 with Retry-After, fail open without Redis."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest
from helpers import auth, create_member, point_token, user_token
from starlette.requests import Request

from dispatch import ratelimit

TRUSTED = "127.0.0.1"  # the test client plays the proxy: its X-Forwarded-For is believed


def limits(**rules: dict[str, str]) -> str:
    return json.dumps(rules)


def ip(addr: str) -> dict[str, str]:
    return {"X-Forwarded-For": addr}


def assert_limited(res: httpx.Response, rule: str) -> None:
    assert res.status_code == 429, res.text
    wait = int(res.headers["retry-after"])
    assert 0 < wait <= 60
    err = res.json()["error"]
    assert err["code"] == "rate_limited" and err["details"] == {"retry_after_s": wait, "rule": rule}
    assert "请求过于频繁" in err["message"] and "Too many requests" in err["message"]


FORM = {"content": "路灯不亮", "category": "城乡建设"}


@pytest.mark.settings(rate_limits=limits(qr={"ip": "2/60", "token": "100/60"}), trusted_proxies=TRUSTED)
def test_qr_intake_is_limited_per_address_on_the_api_and_the_plain_form(api):
    token = point_token(api, user_token(api, "operator", "op"))
    url = f"/api/intake/qr/{token}"
    assert api.post(url, data=FORM, headers=ip("10.0.0.1")).status_code == 201
    assert api.post(f"/q/{token}", data=FORM, headers=ip("10.0.0.1")).status_code == 201  # the same rule
    assert_limited(api.post(url, data=FORM, headers=ip("10.0.0.1")), "qr")
    page = api.post(f"/q/{token}", data=FORM, headers=ip("10.0.0.1"))
    assert page.status_code == 429 and page.headers["x-error-code"] == "rate_limited"
    assert int(page.headers["retry-after"]) > 0 and "请求过于频繁" in page.text
    # another address is unaffected
    assert api.post(url, data=FORM, headers=ip("10.0.0.2")).status_code == 201


@pytest.mark.settings(rate_limits=limits(qr={"ip": "100/60", "token": "2/60"}), trusted_proxies=TRUSTED)
def test_qr_intake_is_limited_per_point_across_addresses(api):
    op = user_token(api, "operator", "op")
    busy, quiet = point_token(api, op), point_token(api, op)
    for n in range(2):
        assert api.post(f"/api/intake/qr/{busy}", data=FORM, headers=ip(f"10.0.1.{n}")).status_code == 201
    assert_limited(api.post(f"/api/intake/qr/{busy}", data=FORM, headers=ip("10.0.1.9")), "qr")
    assert api.post(f"/api/intake/qr/{quiet}", data=FORM, headers=ip("10.0.1.9")).status_code == 201


@pytest.mark.settings(
    rate_limits=limits(track={"ip": "3/60", "token": "100/60"}, rating={"ip": "100/60", "token": "1/60"}),
    trusted_proxies=TRUSTED,
)
def test_tracking_and_rating_limits(api):
    op = user_token(api, "operator", "op")
    made = api.post("/api/cases", json={"content": "来电", "lat": 33.3, "lon": 120.1}, headers=auth(op)).json()
    no, secret = made["tracking_no"], made["secret"]
    assert api.get(f"/api/track/{no}", params={"secret": secret}, headers=ip("10.0.2.1")).status_code == 200
    assert api.get(f"/api/track/{no}", params={"secret": "wrong"}, headers=ip("10.0.2.1")).status_code == 404
    assert api.get(f"/t/{no}", headers=ip("10.0.2.1")).status_code == 200  # page and API share the rule
    assert_limited(api.get(f"/api/track/{no}", params={"secret": secret}, headers=ip("10.0.2.1")), "track")
    page = api.get(f"/t/{no}", headers=ip("10.0.2.1"))
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0 and "Too many requests" in page.text
    assert api.get(f"/api/track/{no}", params={"secret": secret}, headers=ip("10.0.2.2")).status_code == 200

    # ratings: one per case per window, whatever the address; another case is unaffected
    rating = {"secret": secret, "score": "satisfied"}
    first = api.post(f"/api/track/{no}/rating", json=rating, headers=ip("10.0.3.1"))
    assert first.status_code in (200, 409)  # not resolved yet: refused, but counted
    assert_limited(api.post(f"/api/track/{no}/rating", json=rating, headers=ip("10.0.3.2")), "rating")
    other = api.post("/api/cases", json={"content": "来电二", "lat": 33.3, "lon": 120.1}, headers=auth(op)).json()
    res = api.post(f"/api/track/{other['tracking_no']}/rating", json=rating | {"secret": other["secret"]})
    assert res.status_code != 429


@pytest.mark.settings(rate_limits=limits(qr={"ip": "1/60"}))
def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(env):
    """Without SHANGLIANG_TRUSTED_PROXIES a client cannot pick its address by sending the header."""

    def request(peer: str, forwarded: str) -> Request:
        return Request({"type": "http", "client": (peer, 1234), "headers": [(b"x-forwarded-for", forwarded.encode())]})

    assert ratelimit.client_ip(request("203.0.113.7", "1.2.3.4")) == "203.0.113.7"


@pytest.mark.settings(trusted_proxies="10.0.0.0/8,127.0.0.1")
def test_the_client_address_walks_forwarded_for_past_trusted_proxies(env):
    def request(peer: str, forwarded: str) -> Request:
        return Request({"type": "http", "client": (peer, 1234), "headers": [(b"x-forwarded-for", forwarded.encode())]})

    assert ratelimit.client_ip(request("10.1.1.1", "6.6.6.6, 198.51.100.4, 10.2.2.2")) == "198.51.100.4"
    assert ratelimit.client_ip(request("203.0.113.7", "1.2.3.4")) == "203.0.113.7"  # a direct client


@pytest.mark.settings(rate_limits=limits(qr={"ip": "1/60"}), trusted_proxies=TRUSTED)
def test_redis_down_lets_requests_through(outage, api):
    cut, restore = outage
    token = point_token(api, user_token(api, "operator", "op"))
    assert api.post(f"/api/intake/qr/{token}", data=FORM, headers=ip("10.0.4.1")).status_code == 201
    assert_limited(api.post(f"/api/intake/qr/{token}", data=FORM, headers=ip("10.0.4.1")), "qr")
    cut()
    try:
        res = api.post(f"/api/intake/qr/{token}", data=FORM, headers=ip("10.0.4.1"))
        assert res.status_code == 201, res.text  # not limited, and not a 5xx
    finally:
        restore()


@pytest.mark.settings(rate_limits=limits(login={"ip": "50/900", "token": "2/900"}), trusted_proxies=TRUSTED)
def test_login_failures_use_the_same_limiter(api):
    user_token(api, "operator", "op")
    for _ in range(2):
        res = api.post("/api/auth/token", json={"username": "op", "password": "nope-nope"}, headers=ip("10.0.5.1"))
        assert res.status_code == 401
    res = api.post("/api/auth/token", json={"username": "op", "password": "nope-nope"}, headers=ip("10.0.5.1"))
    assert res.status_code == 429 and res.json()["error"]["code"] == "too_many_attempts"
    assert int(res.headers["retry-after"]) > 0
    # another address may still sign in as op
    res = api.post(
        "/api/auth/token", json={"username": "op", "password": "correct-horse-battery"}, headers=ip("10.0.5.2")
    )
    assert res.status_code == 200


@pytest.mark.settings(rate_limits=limits(open311={"ip": "100/60", "token": "1/60"}), trusted_proxies=TRUSTED)
def test_open311_posts_are_limited_per_key(api):
    from helpers import api_key

    op = user_token(api, "operator", "op")
    village = api.get("/api/regions", params={"level": "village"}, headers=auth(op)).json()[0]
    form = {"service_code": (None, "99"), "address_id": (None, village["code"]), "description": (None, "路灯不亮")}
    first, second = api_key("open311"), api_key("open311")
    assert api.post("/open311/v2/requests.json", params={"api_key": first}, files=form).status_code == 200
    res = api.post("/open311/v2/requests.json", params={"api_key": first}, files=form, headers=ip("10.0.6.1"))
    assert res.status_code == 429 and int(res.headers["retry-after"]) > 0
    # the key in the form body counts as the same key; another key is unaffected
    body = {"api_key": first, "service_code": "99", "address_id": village["code"], "description": "井盖丢失"}
    assert api.post("/open311/v2/requests.json", data=body).status_code == 429
    assert api.post("/open311/v2/requests.json", data=body | {"api_key": second}).status_code == 200


@pytest.mark.settings(rate_limits=limits(qr={"ip": "1/60", "token": "100/60"}), trusted_proxies=TRUSTED)
def test_member_mailbox_form_shares_the_qr_limit(api):
    op = user_token(api, "operator", "op")
    member = create_member(api, op, name="钱委员", level="district")
    url = api.get(f"/api/members/{member['id']}/qr", headers=auth(op)).json()["qr_url"]
    path = urlsplit(url).path
    assert api.post(path, data={"content": "反映问题"}, headers=ip("10.0.3.1")).status_code == 201
    page = api.post(path, data={"content": "再反映一次"}, headers=ip("10.0.3.1"))
    assert page.status_code == 429 and page.headers["x-error-code"] == "rate_limited"
    assert int(page.headers["retry-after"]) > 0 and "请求过于频繁" in page.text and "再反映一次" in page.text
    assert api.post(path, data={"content": "另一位居民"}, headers=ip("10.0.3.2")).status_code == 201
