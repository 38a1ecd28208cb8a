"""The members import reports every problem of every row at once, and one phone rule holds for the import and
for the members API (issue 15, item 9)."""

from __future__ import annotations

import io
import re

import pytest
from helpers import auth, create_member, user_token
from openpyxl import Workbook

from dispatch.validation import normalise_phone

CJK = re.compile(r"[\u3400-\u9fff]")


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _upload(api, token, data: bytes, **form: str):
    return api.post("/api/members/import", files={"file": ("members.xlsx", data)}, data=form, headers=auth(token))


def _members(api, token) -> list[dict]:
    return api.get("/api/members", headers=auth(token)).json()


HEADER = ["姓名", "电话", "层级", "镇街", "擅长类别", "容量", "在岗", "纬度", "经度"]


def test_every_error_of_every_row_at_once_and_nothing_written(api):
    op = user_token(api, "operator")
    town = api.get("/api/regions?level=town", headers=auth(op)).json()[0]
    data = _xlsx(
        [
            HEADER,
            ["周一", "13800000001", "镇", town["name"], "城乡建设", 3, "是", "", ""],  # row 2: fine
            # row 3: five problems of its own, and an unknown category, lat 95 and lon 200 besides
            ["", "1380000", "市长", "火星镇", "外星人入侵、城乡建设、月球开发", "abc", "也许", 95, 200],
            # row 4: a town-level member without a town, an impossible phone, a place outside China
            ["郑三", "12345", "镇", "", "", 2, "否", 35.68, 139.76],
            ["冯四", "0515-88881234", "区", "", "", 3, "是", 33.35, "东经"],  # row 5: a longitude that is no number
        ]
    )
    res = _upload(api, op, data)
    assert res.status_code == 422, res.text
    errors = res.json()["error"]["details"]["errors"]
    got = [(e["row"], e["field"], e["code"]) for e in errors]
    assert got == [
        (3, "name", "name_required"),
        (3, "phone", "invalid_phone"),
        (3, "level", "invalid_level"),
        (3, "town", "unknown_town"),
        (3, "categories", "unknown_category"),
        (3, "categories", "unknown_category"),
        (3, "capacity", "invalid_capacity"),
        (3, "on_duty", "invalid_on_duty"),
        (3, "lat", "value_out_of_range"),
        (3, "lon", "value_out_of_range"),
        (4, "phone", "invalid_phone"),
        (4, "town", "town_required"),
        (4, "lat", "location_outside_china"),
        (5, "lon", "invalid_number"),
    ]
    # which unknown categories, and what the ranges are: the operator can fix the file from the list alone
    row3 = {(e["field"], e["message_en"]) for e in errors if e["row"] == 3}
    assert ("categories", "Unknown category: 外星人入侵") in row3 and (
        "categories",
        "Unknown category: 月球开发",
    ) in row3
    assert ("lat", "Latitude out of range (-90 to 90): 95.0") in row3
    assert ("lon", "Longitude out of range (-180 to 180): 200.0") in row3
    letters = dict(
        zip(
            ["name", "phone", "level", "town", "categories", "capacity", "on_duty", "lat", "lon"],
            "ABCDEFGHI",
            strict=True,
        )
    )
    for e in errors:
        assert e["column"] == letters[e["field"]] and e["header"] == HEADER["ABCDEFGHI".index(e["column"])], e
        assert CJK.search(e["message_zh"]), e
        assert e["message_en"] and not CJK.search(e["message_en"].split(": ", 1)[0]), e  # the value may be Chinese
        assert e["message"] == f"{e['message_zh']} / {e['message_en']}"
    assert _members(api, op) == []  # row 2 was fine, and is not created either


def test_phones_are_normalised_on_import(api):
    op = user_token(api, "operator")
    data = _xlsx(
        [
            ["姓名", "电话", "层级"],
            ["甲", "+86 139-0000-1111", "区"],
            ["乙", "(0515) 8888 1234 转 12", "区"],
            ["丙", 13700001234, "区"],  # Excel keeps it as a number
            ["丁", "", "区"],
        ]
    )
    res = _upload(api, op, data)
    assert res.status_code == 200, res.text
    phones = {m["name"]: m["phone"] for m in _members(api, op)}
    assert phones == {"甲": "13900001111", "乙": "0515-88881234-12", "丙": "13700001234", "丁": None}


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13800001234", "13800001234"),
        ("+86 138 0000 1234", "13800001234"),
        ("86-138-0000-1234", "13800001234"),
        ("１３８００００１２３４", "13800001234"),
        ("0515-88881234", "0515-88881234"),
        ("051588881234", "0515-88881234"),
        ("010 6666 7777", "010-66667777"),
        ("021-6666777", "021-6666777"),
        ("0515-88881234-123", "0515-88881234-123"),
        ("0515-88881234 ext 9", "0515-88881234-9"),
        ("0515-8888-1234", "0515-88881234"),
        ("010-6666-7777", "010-66667777"),
        ("0515-8888123-4", "0515-8888123-4"),
        ("0515-8888-123", "0515-8888123"),  # 7 digits: a local number, no extension
        ("0515-888-12", None),
        ("+86 515 8888 1234", "0515-88881234"),
        ("1380000", None),  # too short (the example)
        ("12800001234", None),  # 12x is no mobile prefix
        ("138000012345", None),  # 12 digits
        ("88881234", None),  # a landline without its area code
        ("0515-0888123", None),  # a local number never starts with 0
        ("0515-888812345", None),  # 9-digit local number
        ("12345", None),
        ("电话", None),
    ],
)
def test_the_phone_rule(raw, normal):
    assert normalise_phone(raw) == normal


def test_members_api_applies_the_same_phone_rule(api):
    op = user_token(api, "operator")
    res = api.post("/api/members", json={"name": "甲", "level": "district", "phone": "1380000"}, headers=auth(op))
    assert res.status_code == 422, res.text
    [problem] = res.json()["error"]["details"]["fields"]
    assert problem["field"] == "phone" and problem["type"] == "invalid_phone"
    assert _members(api, op) == []

    m = create_member(api, op, name="乙", level="district", phone="+86 138-0000-1234")
    assert m["phone"] == "13800001234"
    url = f"/api/members/{m['id']}"
    res = api.patch(url, json={"phone": "138 0000"}, headers=auth(op))
    assert res.status_code == 422 and res.json()["error"]["details"]["fields"][0]["type"] == "invalid_phone"
    assert api.get(url, headers=auth(op)).json()["phone"] == "13800001234"  # unchanged
    res = api.patch(url, json={"phone": "(0515)8888-1234"}, headers=auth(op))
    assert res.status_code == 200, res.text
    assert res.json()["phone"] == "0515-88881234"
    res = api.patch(url, json={"phone": ""}, headers=auth(op))  # blank: no phone
    assert res.status_code == 200 and res.json()["phone"] is None
