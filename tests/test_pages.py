"""The plain QR page works without JavaScript: a form that posts to itself and answers with a page."""

from __future__ import annotations

import re

from helpers import auth, user_token
from sqlmodel import func, select

from dispatch.cases.models import Case


def _point(api):
    op = user_token(api, "operator")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[42]
    res = api.post(
        "/api/points", json={"name": "议事室", "kind": "consultation_room", "village_code": v["code"]}, headers=auth(op)
    )
    assert res.status_code == 201
    return op, v, res.json()


def test_the_plain_form_submits_and_shows_the_tracking_number(api, db):
    op, v, point = _point(api)
    page = api.get(f"/q/{point['qr_token']}")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    for field in ("category", "content", "photos", "name", "phone"):
        assert f'<label for="{field}"' in page.text and f'id="{field}"' in page.text
    assert f'action="/q/{point["qr_token"]}"' in page.text
    res = api.post(
        f"/q/{point['qr_token']}",
        data={"content": "村口桥栏杆松动", "category": "城乡建设"},
        files=[("photos", ("a.png", _png(), "image/png"))],  # a real image: photos are decoded
    )
    assert res.status_code == 201, res.text
    tracking = re.search(r'id="tracking-no">([^<]+)<', res.text).group(1)
    secret = re.search(r'id="secret">([^<]+)<', res.text).group(1)
    tracked = api.get(f"/api/track/{tracking}", params={"secret": secret})
    assert tracked.status_code == 200 and tracked.json()["content"] == "村口桥栏杆松动"
    case = db.exec(select(Case).where(Case.tracking_no == tracking)).one()
    assert (case.channel, case.village_code, case.point_id) == ("qr", v["code"], point["id"])


def test_the_plain_form_explains_errors_and_stores_nothing(api, db):
    op, v, point = _point(api)
    res = api.post(f"/q/{point['qr_token']}", data={"content": " ", "category": "城乡建设"})
    assert res.status_code == 422 and "请填写诉求内容" in res.text
    res = api.post(f"/q/{point['qr_token']}", data={"content": "路灯坏了", "category": "不存在的分类"})
    assert res.status_code == 422 and res.headers["x-error-code"] == "unknown_category"
    res = api.post("/q/no-such-token", data={"content": "路灯坏了", "category": "城乡建设"})
    assert res.status_code == 404 and "二维码" in res.text
    assert db.exec(select(func.count()).select_from(Case)).one() == 0


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 120, 0)).save(buf, "PNG")
    return buf.getvalue()
