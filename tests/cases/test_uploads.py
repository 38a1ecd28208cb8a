"""Resident photos: decoded and re-encoded, turned upright, EXIF stripped after its GPS placed the case."""

from __future__ import annotations

import hashlib
import io
import zlib

import pytest
from helpers import auth, user_token
from PIL import ExifTags, Image
from sqlmodel import select

from dispatch.cases.models import Attachment

FORM = {"content": "桥下堆满垃圾", "category": "城乡建设"}


@pytest.fixture
def op(api) -> str:
    return user_token(api, "operator", "op")


def a_point(api, op: str) -> dict:
    village = api.get("/api/regions", params={"level": "village"}, headers=auth(op)).json()[0]
    body = {"name": "议事室", "kind": "consultation_room", "village_code": village["code"]}
    res = api.post("/api/points", headers=auth(op), json=body)
    assert res.status_code == 201, res.text
    return res.json()


def gps_jpeg(lat=(33, 21, 0), lon=(120, 9, 36), orientation: int = 6) -> bytes:
    """40x20 with a red left half: rotated upright (orientation 6 = 90° clockwise) it becomes 20x40."""
    img = Image.new("RGB", (40, 20), (30, 30, 200))
    img.paste((220, 20, 20), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "Secret Phone 9"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: tuple(map(float, lat)), 3: "E", 4: tuple(map(float, lon))}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


def get_case(api, op: str, case_id: int) -> dict:
    res = api.get(f"/api/cases/{case_id}", headers=auth(op))
    assert res.status_code == 200, res.text
    return res.json()


def test_exif_gps_locates_the_case_and_the_stored_photo_has_no_metadata(api, db, op):
    point = a_point(api, op)
    original = gps_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload has GPS
    res = api.post(
        f"/api/intake/qr/{point['qr_token']}", data=FORM, files=[("photos", ("p.jpg", original, "image/jpeg"))]
    )
    assert res.status_code == 201, res.text
    case = get_case(api, op, res.json()["id"])
    assert case["lat"] == pytest.approx(33.35, abs=1e-5) and case["lon"] == pytest.approx(120.16, abs=1e-5)
    assert case["point_id"] == point["id"]

    [meta] = case["attachments"]
    stored = api.get(meta["url"], headers=auth(op)).content
    assert stored != original and b"Secret Phone" not in stored and b"Exif" not in stored
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG" and not img.getexif() and "exif" not in img.info
    assert img.size == (20, 40)  # turned upright by its orientation tag
    assert img.getpixel((10, 5))[0] > 150  # the red half is now on top
    row = db.exec(select(Attachment).where(Attachment.id == meta["id"])).one()
    db.rollback()
    assert row.size == len(stored) and row.sha256 == hashlib.sha256(stored).hexdigest()
    assert row.content_type == meta["content_type"] == "image/jpeg"


def test_the_residents_own_position_wins_over_the_photos(api, op):
    point = a_point(api, op)
    files = [("photos", ("p.jpg", gps_jpeg(), "image/jpeg"))]
    res = api.post(f"/api/intake/qr/{point['qr_token']}", data=FORM | {"lat": "33.3", "lon": "120.1"}, files=files)
    assert res.status_code == 201, res.text
    case = get_case(api, op, res.json()["id"])
    assert (case["lat"], case["lon"]) == pytest.approx((33.3, 120.1), abs=1e-3)


def test_garbage_with_jpeg_magic_is_415_and_a_polyglot_loses_its_payload(api, db, op):
    token = a_point(api, op)["qr_token"]
    url = f"/api/intake/qr/{token}"
    garbage = b"\xff\xd8\xff\xe0" + b"<script>alert(1)</script>" * 50
    res = api.post(url, data=FORM, files=[("photos", ("x.jpg", garbage, "image/jpeg"))])
    assert res.status_code == 415 and res.json()["error"]["code"] == "unsupported_photo"
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    res = api.post(url, data=FORM, files=[("photos", ("x.png", svg, "image/png"))])
    assert res.status_code == 415 and res.json()["error"]["code"] == "unsupported_photo"
    assert db.exec(select(Attachment)).all() == []
    db.rollback()

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 0)).save(buf, "JPEG")
    polyglot = buf.getvalue() + b"<html><script>alert(document.cookie)</script></html>"
    res = api.post(url, data=FORM, files=[("photos", ("x.jpg", polyglot, "image/jpeg"))])
    assert res.status_code == 201, res.text
    [meta] = get_case(api, op, res.json()["id"])["attachments"]
    stored = api.get(meta["url"], headers=auth(op)).content
    assert b"<script>" not in stored and Image.open(io.BytesIO(stored)).size == (8, 8)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size with a tiny (highly compressed) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    rows = zlib.compress(b"\0" * (1 + width) * 64, 9)  # only a few rows: the header's claim is what matters
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(20_000, 20_000), (100_000, 100_000)], ids=["over-our-limit", "over-pillow-limit"])
def test_a_decompression_bomb_is_refused_not_a_500(api, db, op, size):
    token = a_point(api, op)["qr_token"]
    bomb = _png_bomb(*size)
    assert len(bomb) < 1024 * 1024
    res = api.post(f"/api/intake/qr/{token}", data=FORM, files=[("photos", ("b.png", bomb, "image/png"))])
    assert res.status_code == 413, res.text
    assert res.json()["error"]["code"] == "photo_too_many_pixels"
    assert db.exec(select(Attachment)).all() == []
    db.rollback()


def test_png_with_transparency_stays_png_without_text_chunks(api, op):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "home address: 1 Secret Road")
    buf = io.BytesIO()
    Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(buf, "PNG", pnginfo=info)
    token = a_point(api, op)["qr_token"]
    res = api.post(f"/api/intake/qr/{token}", data=FORM, files=[("photos", ("a.png", buf.getvalue(), "image/png"))])
    assert res.status_code == 201, res.text
    [meta] = get_case(api, op, res.json()["id"])["attachments"]
    stored = api.get(meta["url"], headers=auth(op)).content
    assert meta["content_type"] == "image/png" and b"Secret Road" not in stored
    assert Image.open(io.BytesIO(stored)).mode == "RGBA"


def test_handling_photos_are_re_encoded_too(api, op):
    made = api.post("/api/cases", json={"content": "来电", "lat": 33.3, "lon": 120.1}, headers=auth(op)).json()
    res = api.post(
        f"/api/cases/{made['id']}/attachments",
        headers=auth(op),
        files=[("photos", ("r.jpg", gps_jpeg(), "image/jpeg"))],
    )
    assert res.status_code == 201, res.text
    stored = api.get(res.json()[0]["url"], headers=auth(op)).content
    assert not Image.open(io.BytesIO(stored)).getexif()
    bad = api.post(
        f"/api/cases/{made['id']}/attachments",
        headers=auth(op),
        files=[("photos", ("r.jpg", b"\xff\xd8\xffzz", "image/jpeg"))],
    )
    assert bad.status_code == 415
