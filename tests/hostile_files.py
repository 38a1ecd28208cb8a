"""Hostile files for the intake doors' tests (HTTP and browser): the reviewer's mail of issue 14 and its parts."""

from __future__ import annotations

import base64
import io
import zlib
from urllib.parse import quote

from helpers import api_key
from PIL import ExifTags, Image

# what thumb.js would do with an admin's session: an admin account of the attacker's
ATTACK_JS = (
    b"alert(document.domain);fetch('/api/users',{method:'POST',credentials:'same-origin',"
    b"headers:{'Content-Type':'application/json','X-Requested-With':'shangliang'},"
    b"body:JSON.stringify({username:'pwned',password:'pwned-pass-1',role:'admin'})});"
)
# the page points at the script by relative URL (its id is a guess: every neighbour is tried)
SCRIPT_TAGS = "".join(f'<script src="{n}"></script>' for n in range(1, 16)).encode()
ATTACK_HTML = b"<!doctype html><html><body><h1>IMG_2041</h1>" + SCRIPT_TAGS + b"<script>alert(1)</script></body></html>"
ATTACK_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">'
    b'<rect width="64" height="64" fill="red"/><script>alert(2)</script>'
    + b"".join(f'<script xlink:href="{n}"/>'.encode() for n in range(1, 16))
    + b"</svg>"
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def exif_jpeg() -> bytes:
    """A real phone photo: EXIF with the camera's name and a GPS position."""
    img = Image.new("RGB", (48, 32), (30, 120, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "Secret Phone 9"
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (33.0, 21.0, 0.0), 3: "E", 4: (120.0, 9.0, 36.0)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header claiming more pixels than we decode, with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    rows = zlib.compress(b"\0" * (1 + width) * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def part(filename: str, ctype: str, data: bytes, *, rfc2231: bool = False) -> str:
    name = f"filename*=UTF-8''{quote(filename, safe='')}" if rfc2231 else f'filename="{filename}"'
    return (
        f"Content-Type: {ctype}\r\nContent-Disposition: attachment; {name}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(data).decode().replace("\n", "\r\n")
    )


def hostile_mail(message_id: str, files: list[tuple[str, str, bytes]] | None = None, rfc2231: bool = False) -> bytes:
    """The reviewer's mail: a "photo" that is HTML, its script, an SVG with script, a PDF, a real photo."""
    files = files or [
        ("IMG_2041.html", "application/octet-stream", ATTACK_HTML),
        ("thumb.js", "application/octet-stream", ATTACK_JS),
        ("map.svg", "image/svg+xml", ATTACK_SVG),
        ("notes.xhtml", "application/xhtml+xml", ATTACK_HTML),
        ("data.xml", "text/xml", b"<?xml version='1.0'?><x:script xmlns:x='http://www.w3.org/1999/xhtml'/>"),
        ("report.pdf", "application/pdf", PDF),
        ("IMG_2042.jpg", "image/jpeg", exif_jpeg()),
    ]
    parts = ["Content-Type: text/plain; charset=utf-8\r\n\r\n小区门口的路灯坏了，照片见附件。\r\n"]
    parts += [part(name, ctype, data, rfc2231=rfc2231) for name, ctype, data in files]
    body = "".join(f"--b1\r\n{p}\r\n" for p in parts) + "--b1--\r\n"
    return (
        "From: attacker@example.cn\r\nTo: xinxiang@yandu.gov.cn\r\nSubject: =?UTF-8?B?"
        + base64.b64encode("路灯照片".encode()).decode()
        + f"?=\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n' + body
    ).encode()


def post_mail(api, raw: bytes) -> dict:
    res = api.post("/api/intake/mail", content=raw, headers={"X-API-Key": api_key(), "Content-Type": "message/rfc822"})
    assert res.status_code == 201, res.text
    return res.json()
