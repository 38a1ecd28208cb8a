"""The four intake doors through HTTP: mail, QR code, hotline feed (single and batch), operator phone entry,
plus IMAP polling. What an integrator or a resident would notice: status codes, the error shape, what the
case looks like afterwards, and that nothing is stored when a submission is refused."""

from __future__ import annotations

import base64
import io
import re

import pytest
from fakeimap import FakeImapState, serve
from fakeimap import url as imap_url
from helpers import api_key, auth, create_member, user_token
from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from dispatch.cases.models import Attachment, Case
from dispatch.config import get_settings
from dispatch.intake.models import Mailbox

CJK = re.compile(r"[\u4e00-\u9fff]")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

# 杨侍村委会 (320903111208) in 郭猛镇 (320903111), from dispatch/regions/data/villages.csv and streets.csv
YANGSHI_VILLAGE, GUOMENG_TOWN = "320903111208", "320903111"


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def no_5xx(api):
    """No answer in this file may be a server error."""

    def check(response):
        request = response.request
        assert response.status_code < 500, f"{request.method} {request.url} → {response.status_code}"

    api.event_hooks["response"].append(check)
    return api


@pytest.fixture
def op(api) -> str:
    return user_token(api, "operator")


@pytest.fixture
def key() -> dict[str, str]:
    return {"X-API-Key": api_key()}


def jpeg(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(buf, "JPEG")
    return buf.getvalue()


def count(db, model=Case) -> int:
    n = db.exec(select(func.count()).select_from(model)).one()
    db.rollback()  # end the read transaction: never hold the database between requests
    return n


def assert_error(res, status: int, code: str | None = None) -> dict:
    """A refusal in the contract's shape: snake_case code, "中文 / English" message, details object."""
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/json"), res.headers["content-type"]
    err = res.json()["error"]
    assert SNAKE.match(err["code"]), err
    if code is not None:
        assert err["code"] == code, err
    assert " / " in err["message"] and CJK.search(err["message"]), err["message"]
    assert re.search(r"[A-Za-z]{3}", err["message"].split(" / ", 1)[1]), err["message"]
    assert isinstance(err["details"], dict), err
    return err


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def gbk_word(text: str) -> str:
    return f"=?GBK?B?{base64.b64encode(text.encode('gbk')).decode('ascii')}?="


def gbk_mail(
    subject: str, body: str, *, message_id: str, to: str = "xinxiang@yandu.gov.cn", photo: bytes | None = None
) -> bytes:
    """A mail as a Chinese webmail client writes it: GBK encoded-words, GBK base64 body, a JPEG attached."""
    head = (
        f"From: {gbk_word('张大妈')} <zhang.dama@example.cn>\r\n"
        f"To: {to}\r\n"
        f"Subject: {gbk_word(subject)}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Sat, 21 Nov 2026 09:30:00 +0800\r\n"
        "MIME-Version: 1.0\r\n"
    )
    text_part = 'Content-Type: text/plain; charset="GBK"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + b64(
        body.encode("gbk")
    )
    if photo is None:
        return (head + text_part).encode("ascii")
    return (
        head
        + 'Content-Type: multipart/mixed; boundary="==b1=="\r\n\r\n'
        + "--==b1==\r\n"
        + text_part
        + "\r\n"
        + "--==b1==\r\n"
        + 'Content-Type: image/jpeg; name="IMG_0001.jpg"\r\n'
        + 'Content-Disposition: attachment; filename="IMG_0001.jpg"\r\n'
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + b64(photo)
        + "\r\n"
        + "--==b1==--\r\n"
    ).encode("ascii")


def post_mail(api, key: dict[str, str], raw: bytes):
    return api.post("/api/intake/mail", content=raw, headers=key | {"Content-Type": "message/rfc822"})


def get_case(api, token: str, case_id: int) -> dict:
    res = api.get(f"/api/cases/{case_id}", headers=auth(token))
    assert res.status_code == 200, res.text
    return res.json()


def a_village(api, token: str) -> dict:
    res = api.get("/api/regions", params={"level": "village"}, headers=auth(token))
    assert res.status_code == 200, res.text
    villages = res.json()
    assert villages and all(v["level"] == "village" for v in villages)
    return villages[len(villages) // 2]


def create_point(api, token: str, village_code: str) -> dict:
    res = api.post(
        "/api/points",
        headers=auth(token),
        json={"name": "村民议事室", "kind": "consultation_room", "village_code": village_code},
    )
    assert res.status_code == 201, res.text
    return res.json()


# --------------------------------------------------------------------------- 1. mail


def test_gbk_mail_with_photo_becomes_one_case(api, db, op, key):
    photo = jpeg()
    subject = "反映小区路灯损坏问题"
    body = "您好：我家楼下的路灯已经坏了两个星期，晚上出行很不方便，请尽快维修。"
    raw = gbk_mail(subject, body, message_id="<gbk-0001@mail.example.cn>", photo=photo)

    res = post_mail(api, key, raw)
    assert res.status_code == 201, res.text
    out = res.json()
    assert isinstance(out["id"], int) and out["tracking_no"]

    case = get_case(api, op, out["id"])
    assert case["channel"] == "mail"
    assert case["tracking_no"] == out["tracking_no"]
    assert case["title"] == subject
    assert body in case["content"]
    assert case["reporter_name"] == "张大妈"
    assert len(case["attachments"]) == 1
    att = case["attachments"][0]
    assert att["content_type"] == "image/jpeg"
    got = api.get(att["url"], headers=auth(op))
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert att["kind"] == "image" and att["filename"] == "IMG_0001.jpg"
    assert Image.open(io.BytesIO(got.content)).size == Image.open(io.BytesIO(photo)).size  # re-encoded, same picture

    again = post_mail(api, key, raw)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == out["id"]
    assert again.json()["tracking_no"] == out["tracking_no"]
    assert count(db) == 1
    assert count(db, Attachment) == 1


def test_mail_to_a_member_mailbox_is_filed_under_it(api, db, op, key):
    village = a_village(api, op)
    member = create_member(api, op, name="王委员", town_code=village["parent_code"])
    mailbox = Mailbox(address="wang.wei@yandu.gov.cn", kind="member", member_id=member["id"])
    db.add(mailbox)
    db.commit()

    raw = gbk_mail(
        "噪音扰民",
        "工地夜间施工噪音很大。",
        message_id="<box-1@mail.example.cn>",
        to=f"{gbk_word('王委员')} <Wang.Wei@yandu.gov.cn>",
    )
    res = post_mail(api, key, raw)
    assert res.status_code == 201, res.text
    assert get_case(api, op, res.json()["id"])["mailbox_id"] == mailbox.id

    other = post_mail(api, key, gbk_mail("噪音扰民", "另一封信。", message_id="<box-2@mail.example.cn>"))
    assert other.status_code == 201, other.text
    assert get_case(api, op, other.json()["id"])["mailbox_id"] is None


def test_mail_naming_a_village_is_placed_there(api, op, key):
    raw = gbk_mail(
        "路面坑洼", "郭猛镇杨侍村村部门口的水泥路坑坑洼洼，下雨天积水严重。", message_id="<village-1@mail.example.cn>"
    )
    res = post_mail(api, key, raw)
    assert res.status_code == 201, res.text
    case = get_case(api, op, res.json()["id"])
    assert case["village_code"] == YANGSHI_VILLAGE
    assert case["town_code"] == GUOMENG_TOWN


# --------------------------------------------------------------------------- 2. QR code


def test_qr_page_submission_and_tracking(api, db, op):
    village = a_village(api, op)
    point = create_point(api, op, village["code"])
    token = point["qr_token"]
    assert point["village_code"] == village["code"] and point["town_code"] == village["parent_code"]

    page = api.get(f"/q/{token}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text and f'action="/q/{token}"' in page.text
    assert 'name="content"' in page.text and 'name="photos"' in page.text

    photo = jpeg((10, 120, 40))
    form = {"content": "村口垃圾桶满了没人清运", "category": "城乡建设"}
    files = [("photos", ("trash.jpg", photo, "image/jpeg"))]
    res = api.post(f"/api/intake/qr/{token}", data=form, files=files)
    assert res.status_code == 201, res.text
    out = res.json()
    assert isinstance(out["id"], int) and out["tracking_no"] and out["secret"]

    case = get_case(api, op, out["id"])
    assert case["channel"] == "qr"
    assert case["point_id"] == point["id"]
    assert case["village_code"] == point["village_code"]
    assert case["town_code"] == point["town_code"]
    assert case["category"] == "城乡建设"
    assert case["content"] == "村口垃圾桶满了没人清运"
    assert [a["content_type"] for a in case["attachments"]] == ["image/jpeg"]
    stored = api.get(case["attachments"][0]["url"], headers=auth(op)).content  # re-encoded: the same picture
    assert Image.open(io.BytesIO(stored)).size == Image.open(io.BytesIO(photo)).size

    tracked = api.get(f"/api/track/{out['tracking_no']}", params={"secret": out["secret"]})
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["status"] == case["status"]
    assert tracked.json()["tracking_no"] == out["tracking_no"]
    wrong = api.get(f"/api/track/{out['tracking_no']}", params={"secret": out["secret"] + "x"})
    assert_error(wrong, 404)
    assert_error(api.get(f"/api/track/{out['tracking_no']}"), 404)
    assert count(db) == 1


@pytest.mark.parametrize("revoked", [True, False], ids=["revoked", "unknown"])
def test_dead_qr_token_is_refused_and_stores_nothing(api, db, op, revoked):
    point = create_point(api, op, a_village(api, op)["code"])
    if revoked:
        token = point["qr_token"]
        assert api.get(f"/q/{token}").status_code == 200  # alive before the revocation
        res = api.post(f"/api/points/{point['id']}/revoke", headers=auth(op))
        assert res.status_code == 200, res.text
    else:
        token = "no-such-token-" + point["qr_token"][:8]
    before = count(db)

    page = api.get(f"/q/{token}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "二维码" in page.text and "<form" not in page.text

    res = api.post(
        f"/api/intake/qr/{token}",
        data={"content": "路灯不亮", "category": "城乡建设"},
        files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))],
    )
    assert_error(res, 404, "qr_token_invalid")
    assert count(db) == before
    assert count(db, Attachment) == 0


def test_qr_photo_rules(api, db, op):
    token = create_point(api, op, a_village(api, op)["code"])["qr_token"]
    form = {"content": "河道有人倾倒垃圾", "category": "城乡建设"}

    four = [("photos", (f"p{i}.jpg", jpeg((i * 40, 0, 0)), "image/jpeg")) for i in range(4)]
    assert_error(api.post(f"/api/intake/qr/{token}", data=form, files=four), 422, "too_many_photos")

    not_an_image = [
        ("photos", ("a.jpg", jpeg(), "image/jpeg")),
        ("photos", ("notes.jpg", b"%PDF-1.4 this is not a photo", "image/jpeg")),
    ]
    err = assert_error(api.post(f"/api/intake/qr/{token}", data=form, files=not_an_image), 415)
    assert err["details"].get("filename") == "notes.jpg"
    assert count(db) == 0
    assert count(db, Attachment) == 0

    three = [("photos", (f"p{i}.jpg", jpeg((0, i * 40, 0)), "image/jpeg")) for i in range(3)]
    res = api.post(f"/api/intake/qr/{token}", data=form, files=three)
    assert res.status_code == 201, res.text
    assert len(get_case(api, op, res.json()["id"])["attachments"]) == 3


# --------------------------------------------------------------------------- 3. hotline batch


def test_hotline_batch_is_per_item_and_idempotent(api, db, op, key):
    batch = [
        {"external_id": "12345-20261121-001", "content": "楼道灯不亮", "caller_phone": "13800001111"},
        {"external_id": "12345-20261121-002", "content": "下水道堵塞", "urgency": "urgent"},
        {"external_id": "12345-20261121-003"},  # no content
    ]
    res = api.post("/api/intake/hotline", json=batch, headers=key)
    assert res.status_code == 207, res.text
    first = res.json()
    assert [r["status"] for r in first] == [201, 201, 422]
    assert [r["index"] for r in first] == [0, 1, 2]
    ids = [r["body"]["id"] for r in first[:2]]
    assert ids[0] != ids[1]
    assert all(r["body"]["tracking_no"] for r in first[:2])
    err = first[2]["body"]["error"]
    assert err["code"] == "missing_field" and " / " in err["message"] and CJK.search(err["message"])
    assert count(db) == 2
    assert get_case(api, op, ids[1])["urgency"] == "urgent"

    again = api.post("/api/intake/hotline", json=batch, headers=key)
    assert again.status_code == 207, again.text
    second = again.json()
    assert [r["status"] for r in second] == [200, 200, 422]
    assert [r["body"]["id"] for r in second[:2]] == ids
    assert count(db) == 2


def test_hotline_single_item_is_idempotent(api, db, op, key):
    item = {"external_id": "12345-20261121-009", "content": "路边大树倾斜有倒塌危险", "category": "城乡建设"}
    res = api.post("/api/intake/hotline", json=item, headers=key)
    assert res.status_code == 201, res.text
    again = api.post("/api/intake/hotline", json=item, headers=key)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == res.json()["id"]
    assert get_case(api, op, res.json()["id"])["channel"] == "hotline"
    assert count(db) == 1


# --------------------------------------------------------------------------- 4. operator phone entry


def test_operator_phone_entry_and_who_may_use_it(api, db, op):
    call = {"content": "电话反映：小区门口占道经营", "caller_name": "李先生", "caller_phone": "13912345678"}
    res = api.post("/api/cases", json=call, headers=auth(op))
    assert res.status_code == 201, res.text
    case = get_case(api, op, res.json()["id"])
    assert case["channel"] == "phone"
    assert case["content"] == call["content"]
    assert case["reporter_phone"] == "13912345678"  # the operator sees the number unmasked
    assert res.headers["x-content-type-options"] == "nosniff"
    assert count(db) == 1

    supervisor = user_token(api, "supervisor")
    member = create_member(api, op, town_code=a_village(api, op)["parent_code"])
    member_token = user_token(api, "member", member_id=member["id"])
    hotline_only = {"X-API-Key": api_key("hotline")}
    assert_error(api.post("/api/cases", json=call, headers=auth(supervisor)), 403)
    assert_error(api.post("/api/cases", json=call, headers=auth(member_token)), 403)
    assert_error(api.post("/api/cases", json=call), 401)
    assert_error(api.post("/api/cases", json=call, headers={"Authorization": "Bearer not-a-token"}), 401)
    assert_error(api.post("/api/cases", json=call, headers=hotline_only), 403)
    assert count(db) == 1

    # the key itself is good: it may use the door it was issued for, not the operator's
    ok = api.post("/api/intake/hotline", json={"external_id": "K1", "content": "测试"}, headers=hotline_only)
    assert ok.status_code == 201, ok.text
    assert_error(post_mail(api, hotline_only, gbk_mail("主题", "正文", message_id="<k@x>")), 403)
    assert count(db) == 2


# --------------------------------------------------------------------------- 5. bad input

HOTLINE = "/api/intake/hotline"
MAIL = "/api/intake/mail"
JSON_CT = {"Content-Type": "application/json"}
RFC822_CT = {"Content-Type": "message/rfc822"}
BIG = 10 * 1024 * 1024
_BIG_HEAD = b'{"external_id": "big", "content": "'
BIG_BODY = _BIG_HEAD + b"x" * (BIG - len(_BIG_HEAD) - 2) + b'"}'
assert len(BIG_BODY) == BIG


def hotline_item(**fields) -> dict:
    return {"json": {"external_id": "E1", "content": "路灯坏了"} | fields}


BAD_INPUT = [
    ("missing content", HOTLINE, {"json": {"external_id": "E1"}}, 422, "missing_field"),
    ("missing external_id", HOTLINE, {"json": {"content": "路灯坏了"}}, 422, "missing_field"),
    ("outside China", HOTLINE, hotline_item(lat=35.6812, lon=139.7671), 422, "location_outside_china"),
    ("lat without lon", HOTLINE, hotline_item(lat=33.38), 422, None),
    ("lon without lat", HOTLINE, hotline_item(lon=120.1), 422, None),
    ("unknown category", HOTLINE, hotline_item(category="外星人入侵"), 422, "unknown_category"),
    ("bad urgency", HOTLINE, hotline_item(urgency="asap"), 422, None),
    ("bad coord_system", HOTLINE, hotline_item(lat=33.38, lon=120.1, coord_system="mars"), 422, None),
    ("body too large", HOTLINE, {"content": BIG_BODY, "headers": JSON_CT}, 413, "body_too_large"),
    (
        "text/plain to hotline",
        HOTLINE,
        {"content": '{"external_id": "E7", "content": "x"}', "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("json to mail", MAIL, {"json": {"subject": "路灯", "body": "坏了"}}, 415, "unsupported_media_type"),
    (
        "invalid json",
        HOTLINE,
        {"content": b'{"external_id": "E8", "content": ', "headers": JSON_CT},
        400,
        "invalid_json",
    ),
    ("binary garbage mail", MAIL, {"content": bytes(range(256)) * 16, "headers": RFC822_CT}, 422, "malformed_mail"),
    ("empty mail", MAIL, {"content": b"", "headers": RFC822_CT}, 422, None),
    ("blank content", HOTLINE, hotline_item(content="  \n\t "), 422, "missing_field"),
    (
        "NaN coordinates",
        HOTLINE,
        {"content": b'{"external_id": "E9", "content": "x", "lat": NaN, "lon": NaN}', "headers": JSON_CT},
        422,
        None,
    ),
    (
        "infinite coordinates",
        HOTLINE,
        {"content": b'{"external_id": "E9", "content": "x", "lat": 1e400, "lon": 120.1}', "headers": JSON_CT},
        422,
        None,
    ),
    (
        "mail without text or attachment",
        MAIL,
        {"content": b"From: a@example.cn\r\nSubject: hi\r\nMessage-ID: <e@x>\r\n\r\n\r\n", "headers": RFC822_CT},
        422,
        "empty_mail",
    ),
]


@pytest.mark.parametrize(
    ("path", "request_kw", "status", "code"), [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT]
)
def test_bad_input_is_refused_bilingually_and_stores_nothing(api, db, key, path, request_kw, status, code):
    kw = dict(request_kw)
    kw["headers"] = key | kw.get("headers", {})
    res = api.post(path, **kw)
    assert_error(res, status, code)
    assert count(db) == 0
    assert count(db, Attachment) == 0


def test_phone_entry_bad_input(api, db, op):
    assert_error(api.post("/api/cases", json={"caller_name": "李"}, headers=auth(op)), 422, "missing_field")
    paris = {"content": "x", "lat": 48.85, "lon": 2.35}
    assert_error(api.post("/api/cases", json=paris, headers=auth(op)), 422, "location_outside_china")
    text_plain = auth(op) | {"Content-Type": "text/plain"}
    res = api.post("/api/cases", content="content=x", headers=text_plain)
    assert_error(res, 415, "unsupported_media_type")
    assert count(db) == 0


@pytest.mark.parametrize("path", [HOTLINE, MAIL])
def test_oversized_body_without_content_length_is_413(api, db, key, path):
    def chunks():  # sent chunked: the server cannot refuse up front, it must count
        yield b'{"external_id": "big", "content": "'
        for _ in range(10):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    ctype = JSON_CT if path == HOTLINE else RFC822_CT
    res = api.post(path, content=chunks(), headers=key | ctype)
    assert res.request.headers.get("transfer-encoding") == "chunked"
    assert_error(res, 413, "body_too_large")
    assert count(db) == 0


def test_qr_bad_input(api, db, op):
    token = create_point(api, op, a_village(api, op)["code"])["qr_token"]
    url = f"/api/intake/qr/{token}"
    form = {"content": "桥栏杆松动", "category": "城乡建设"}
    assert_error(api.post(url, data={"content": "  ", "category": "城乡建设"}), 422, "missing_field")
    assert_error(api.post(url, data={"content": "桥栏杆松动"}), 422, "missing_field")
    assert_error(api.post(url, data=form | {"category": "外星人入侵"}), 422, "unknown_category")
    assert_error(api.post(url, data=form | {"lat": "35.6812", "lon": "139.7671"}), 422, "location_outside_china")
    assert_error(api.post(url, data=form | {"lat": "nan", "lon": "120.1"}), 422)
    big = b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024)  # 6 MB "JPEG": over the 5 MB photo limit
    res = api.post(url, data=form, files=[("photos", ("big.jpg", big, "image/jpeg"))])
    assert_error(res, 413, "photo_too_large")
    two = [("photos", ("a.jpg", big, "image/jpeg")), ("photos", ("b.jpg", big, "image/jpeg"))]
    assert_error(api.post(url, data=form, files=two), 413, "body_too_large")
    assert count(db) == 0
    assert count(db, Attachment) == 0


def test_hotline_received_at_keeps_the_instant(api, op, key):
    """With an offset, the instant given; without one (the platform's local habit), Beijing time."""
    from datetime import UTC, datetime

    def received(external_id: str, value: str) -> datetime:
        res = api.post(HOTLINE, json={"external_id": external_id, "content": "x", "received_at": value}, headers=key)
        assert res.status_code == 201, res.text
        return datetime.fromisoformat(get_case(api, op, res.json()["id"])["received_at"])

    expected = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)
    assert received("T1", "2026-11-21T09:30:00+08:00") == expected
    assert received("T2", "2026-11-21T01:30:00Z") == expected
    assert received("T3", "2026-11-21T09:30:00") == expected


def test_mail_with_oversized_header_values_is_still_taken(api, op, key):
    """Long display names and odd content types must fit the columns, not crash the insert (PostgreSQL)."""
    name = "盐都区郭猛镇杨侍村村民代表" * 8  # 104 characters
    raw = (
        f"From: {gbk_word(name)} <zhang@example.cn>\r\nTo: xinxiang@yandu.gov.cn\r\n"
        f"Subject: {gbk_word('反映问题')}\r\nMessage-ID: <long-1@mail.example.cn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n正文\r\n"
        f"--b\r\nContent-Type: application/x-{'a' * 200}\r\n"
        'Content-Disposition: attachment; filename="data.bin"\r\n\r\nDATA\r\n--b--\r\n'
    ).encode()
    res = post_mail(api, key, raw)
    assert res.status_code == 201, res.text
    case = get_case(api, op, res.json()["id"])
    assert name.startswith(case["reporter_name"]) and len(case["reporter_name"]) >= 32
    assert len(case["attachments"]) == 1
    att = api.get(case["attachments"][0]["url"], headers=auth(op))
    assert att.status_code == 200 and att.content == b"DATA"


# --------------------------------------------------------------------------- 6. IMAP


def test_imap_poll_makes_cases_and_marks_mail_seen(api, db, op, monkeypatch):
    from dispatch.intake.flows import poll_imap

    state = FakeImapState()
    gbk = gbk_mail("垃圾清运不及时", "盐渎街道某小区垃圾已经三天没有清运。", message_id="<imap-1@mail.example.cn>")
    utf8 = (
        "From: resident@example.cn\r\nTo: xinxiang@yandu.gov.cn\r\n"
        f"Subject: =?UTF-8?B?{base64.b64encode('井盖丢失'.encode()).decode()}?=\r\n"
        "Message-ID: <imap-2@mail.example.cn>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "北门井盖丢失，很危险。\r\n"
    ).encode()
    state.add(1, gbk)
    state.add(2, utf8)

    with serve(state) as port:
        monkeypatch.setenv("SHANGLIANG_IMAP_URL", imap_url(port))
        get_settings.cache_clear()
        assert poll_imap(reschedule=False) == 2
        assert all("\\Seen" in flags for _raw, flags in state.messages.values())
        assert count(db) == 2

        res = api.get("/api/cases", params={"channel": "mail"}, headers=auth(op))
        assert res.status_code == 200, res.text
        titles = sorted(c["title"] for c in res.json())
        assert titles == sorted(["垃圾清运不及时", "井盖丢失"])
        contents = " ".join(c["content"] for c in res.json())
        assert "三天没有清运" in contents and "北门井盖丢失" in contents

        assert poll_imap(reschedule=False) == 0
        # even if the server forgets the flags, the Message-IDs keep the cases single
        for entry in state.messages.values():
            entry[1].clear()
        assert poll_imap(reschedule=False) == 0
        assert all("\\Seen" in flags for _raw, flags in state.messages.values())
    assert count(db) == 2
