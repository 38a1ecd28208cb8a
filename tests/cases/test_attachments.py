"""Every mailed or uploaded file is hostile: images are decoded and re-encoded, everything else is a download.

The attack of issue 14: a mail with ``IMG_2041.html`` (sent as application/octet-stream) and ``thumb.js``
became attachments served inline from our origin as text/html and text/javascript, so opening the "photo"
ran the script with the admin's session. What an attacker or an operator notices: the headers and bytes
``GET /api/cases/{id}/attachments/{aid}`` answers, and the ``kind`` the case view gives each attachment.
"""

from __future__ import annotations

import io
from urllib.parse import unquote

import pytest
from helpers import auth, user_token
from hostile_files import ATTACK_HTML, ATTACK_JS, ATTACK_SVG, PDF, hostile_mail, png_bomb, post_mail
from PIL import Image
from sqlalchemy import event
from sqlmodel import Session

from dispatch.auth.service import Principal
from dispatch.cases.models import Attachment
from dispatch.cases.views import list_cases
from dispatch.db import get_engine

ACTIVE = ("html", "svg", "javascript", "ecmascript", "xml", "xhtml", "text/css", "multipart")
INLINE_TYPES = ("image/jpeg", "image/png")
SAFE_TYPES = ("image/jpeg", "image/png", "application/pdf", "application/octet-stream")


def attachments_of(api, token: str, case_id: int) -> dict[str, dict]:
    res = api.get(f"/api/cases/{case_id}", headers=auth(token))
    assert res.status_code == 200, res.text
    return {a["filename"]: a for a in res.json()["attachments"]}


def assert_safe(res, *, inline: bool) -> None:
    """The answer cannot run anything in our origin; inline only for a re-encoded JPEG/PNG."""
    assert res.status_code == 200, res.text
    ctype = res.headers["content-type"].split(";")[0].strip().lower()
    assert not any(word in ctype for word in ACTIVE), ctype
    assert ctype in SAFE_TYPES, ctype
    assert res.headers["x-content-type-options"] == "nosniff"
    csp = res.headers["content-security-policy"]
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("sandbox") == "sandbox", csp  # an opaque origin, no scripts, whatever the browser does
    assert directives.get("default-src") == "default-src 'none'", csp
    assert "script-src" not in directives, csp
    disposition = res.headers["content-disposition"]
    if inline:
        assert ctype in INLINE_TYPES and disposition.startswith("inline"), (ctype, disposition)
        with Image.open(io.BytesIO(res.content)) as img:
            img.load()
            assert img.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[ctype]
    else:
        assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition, disposition


def served_name(res) -> str:
    return unquote(res.headers["content-disposition"].split("filename*=UTF-8''", 1)[1].split(";")[0])


def test_a_hostile_mail_gives_downloads_and_a_re_encoded_photo(api, db):
    op = user_token(api, "admin", "adm")
    case = post_mail(api, hostile_mail("<attack-1@example.cn>"))
    found = attachments_of(api, op, case["id"])
    assert set(found) == {
        "IMG_2041.html",
        "thumb.js",
        "map.svg",
        "notes.xhtml",
        "data.xml",
        "report.pdf",
        "IMG_2042.jpg",
    }, found
    for name, meta in found.items():
        res = api.get(meta["url"], headers=auth(op))
        assert_safe(res, inline=name == "IMG_2042.jpg")
        if name != "IMG_2042.jpg":
            assert served_name(res) == name
        assert not any(word in meta["content_type"] for word in ACTIVE), meta
    kinds = {name: a.get("kind") for name, a in found.items()}
    assert kinds == {name: "image" if name == "IMG_2042.jpg" else "file" for name in found}, kinds

    photo = api.get(found["IMG_2042.jpg"]["url"], headers=auth(op))
    assert photo.headers["content-type"] == "image/jpeg"
    assert b"Secret Phone" not in photo.content and b"Exif" not in photo.content
    with Image.open(io.BytesIO(photo.content)) as img:
        assert img.size == (48, 32) and not img.getexif() and "exif" not in img.info

    pdf = api.get(found["report.pdf"]["url"], headers=auth(op))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content == PDF  # kept as sent, a download
    html = api.get(found["IMG_2041.html"]["url"], headers=auth(op))
    assert html.headers["content-type"] == "application/octet-stream" and html.content == ATTACK_HTML
    js = api.get(found["thumb.js"]["url"], headers=auth(op))
    assert js.headers["content-type"] == "application/octet-stream" and js.content == ATTACK_JS
    rows = {r.filename: r for r in db.exec(Attachment.__table__.select()).all()}
    db.rollback()
    assert rows["IMG_2041.html"].content_type == "application/octet-stream"
    assert rows["map.svg"].content_type == "application/octet-stream"


def test_undecodable_and_oversized_images_in_a_mail_are_kept_as_downloads(api):
    op = user_token(api, "operator", "op")
    garbage = b"\xff\xd8\xff\xe0" + b"<script>alert(1)</script>" * 40
    files = [
        ("bomb.png", "image/png", png_bomb()),
        ("broken.jpg", "image/jpeg", garbage),
        ("../../etc/\u202egpj.exe", "application/octet-stream", b"MZ\x90\x00"),  # a path, right-to-left override
        ("图" * 200 + ".pdf", "application/octet-stream", PDF),  # too long a name
        ("fake.pdf", "application/pdf", b"<html><script>alert(3)</script></html>"),  # not a PDF
    ]
    case = post_mail(api, hostile_mail("<attack-2@example.cn>", files, rfc2231=True))  # one bad file fails nothing
    found = attachments_of(api, op, case["id"])
    assert len(found) == 5, found
    for meta in found.values():
        assert_safe(api.get(meta["url"], headers=auth(op)), inline=False)
    assert all(a.get("kind") == "file" for a in found.values()), found
    assert api.get(found["bomb.png"]["url"], headers=auth(op)).headers["content-type"] == "application/octet-stream"
    broken = api.get(found["broken.jpg"]["url"], headers=auth(op))
    assert broken.headers["content-type"] == "application/octet-stream" and broken.content == garbage
    fake = api.get(found["fake.pdf"]["url"], headers=auth(op))
    assert fake.headers["content-type"] == "application/octet-stream"  # a PDF only by its bytes
    names = set(found)
    assert "gpj.exe" in names, names  # no path, no right-to-left override
    [long] = [n for n in names if n.startswith("图")]
    assert long.endswith(".pdf") and len(long) <= 120
    assert api.get(found[long]["url"], headers=auth(op)).headers["content-type"] == "application/pdf"


@pytest.mark.parametrize(
    ("ctype", "data"),
    [
        ("text/html", b"<html><script>alert(document.cookie)</script></html>"),
        ("image/svg+xml", ATTACK_SVG),
        ("image/jpeg", b"<html><script>alert(1)</script></html>"),  # claims to be a photo
        ("application/javascript", ATTACK_JS),
    ],
    ids=["html", "svg", "html-as-jpeg", "js"],
)
def test_a_row_stored_before_the_fix_is_served_as_a_download(api, db, ctype, data):
    op = user_token(api, "operator", "op")
    made = api.post("/api/cases", json={"content": "来电", "lat": 33.3, "lon": 120.1}, headers=auth(op)).json()
    name = 'a"b;\r\nc.html'
    db.add(Attachment(case_id=made["id"], filename=name, content_type=ctype, size=len(data), sha256="0", data=data))
    db.commit()
    [meta] = attachments_of(api, op, made["id"]).values()
    res = api.get(meta["url"], headers=auth(op))
    assert_safe(res, inline=False)
    assert res.headers["content-type"] == "application/octet-stream" and res.content == data
    assert "\r" not in res.headers["content-disposition"] and "\n" not in res.headers["content-disposition"]
    assert meta.get("kind") == "file"


def test_the_case_list_reads_in_three_statements_however_long_and_keeps_each_kind(api, db):
    """A board asking for 1,000 cases once cost two more reads per case (attachments, the signing deadline)."""
    op = user_token(api, "admin", "adm")
    mailed = [post_mail(api, hostile_mail(f"<list-{n}@example.cn>")) for n in range(2)]
    for n in range(6):
        res = api.post("/api/cases", json={"content": f"路灯坏了 {n}", "caller_phone": "13800138000"}, headers=auth(op))
        assert res.status_code == 201, res.text
    admin = Principal(kind="user", id=1, role="admin")

    def listed(limit: int) -> tuple[list[dict], list[str]]:
        seen: list[str] = []
        with Session(get_engine()) as session:
            connection = session.connection()
            event.listen(connection, "before_cursor_execute", lambda *args: seen.append(args[2]))
            out = list_cases(
                status=None,
                town_code=None,
                channel=None,
                limit=limit,
                offset=0,
                before_id=None,
                session=session,
                p=admin,
            )
        return out, seen

    few, few_statements = listed(2)
    many, many_statements = listed(1000)
    assert len(few) == 2 and len(many) == 8
    assert 0 < len(few_statements) == len(many_statements) <= 3, many_statements

    # the same kinds the single-case view gives, though the list reads only each file's first bytes
    by_id = {c["id"]: c for c in many}
    for case in mailed:
        assert (
            by_id[case["id"]]["attachments"]
            == api.get(f"/api/cases/{case['id']}", headers=auth(op)).json()["attachments"]
        )
        kinds = {a["filename"]: a["kind"] for a in by_id[case["id"]]["attachments"]}
        assert kinds["IMG_2042.jpg"] == "image" and kinds["map.svg"] == "file" and kinds["report.pdf"] == "file"
