"""QR codes: points' codes (unguessable, rotatable, revocable), members' personal codes (委员信箱), print-grade
PNG/SVG read back by a real decoder (OpenCV), A4 posters checked with poppler, and the `shangliang qr` commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from helpers import PASSWORD, auth, create_member, decode, decode_png, user_token
from procs import serve_process
from sqlalchemy import func
from sqlmodel import Session, select
from typer.testing import CliRunner

from dispatch.auth.service import create_user
from dispatch.cases.models import Case
from dispatch.cli import app as cli_app
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.intake.models import Mailbox
from dispatch.points.models import Point
from dispatch.qrcodes.models import QrToken
from qr import codes

# 郭猛镇 (320903111) and three of its villages, from dispatch/regions/data/*.csv
GUOMENG_TOWN = "320903111"
GUOMENG_VILLAGES = ("320903111001", "320903111002", "320903111200")
BASE = "http://127.0.0.1:8000"  # the default public_base_url
POPPLER = all(shutil.which(t) for t in ("pdfinfo", "pdftotext", "pdftoppm", "pdffonts"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils missing: run scripts/provision")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def op(api) -> str:
    return user_token(api, "operator")


def create_point(api, op: str, village: str = GUOMENG_VILLAGES[0], name: str = "郭猛议事室") -> dict:
    res = api.post(
        "/api/points", json={"name": name, "kind": "consultation_room", "village_code": village}, headers=auth(op)
    )
    assert res.status_code == 201, res.text
    return res.json()


SVG_NS = "{http://www.w3.org/2000/svg}"
SQUARE = re.compile(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H([\d.]+)z")


def rasterise_svg(data: bytes, px: int = 10) -> np.ndarray:
    """The SVG as an image, drawn from its own elements: the viewBox and the path's module squares."""
    root = ET.fromstring(data)  # well-formed XML, or this raises
    assert root.tag == f"{SVG_NS}svg"
    _, _, w, h = (float(v) for v in root.attrib["viewBox"].split())
    image = np.full((int(h * px), int(w * px)), 255, np.uint8)
    paths = root.findall(f"{SVG_NS}path")
    assert len(paths) == 1
    squares = SQUARE.findall(paths[0].attrib["d"])
    assert squares, "no module squares in the SVG path"
    for x1, y1, x2, y2, _ in squares:
        x1, y1, x2, y2 = (round(float(v) * px) for v in (x1, y1, x2, y2))
        image[y1:y2, x1:x2] = 0
    return image


def count(model, *where) -> int:
    with Session(get_engine()) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def pdf_pages(pdf: Path) -> tuple[int, str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    size = re.search(r"^Page size:\s+(.*)$", info, re.M).group(1)
    return pages, size


def check_posters(pdf: Path, points: list[dict], town_name: str, tmp_path: Path) -> None:
    pages, size = pdf_pages(pdf)
    assert pages == len(points)
    w, h = (float(v) for v in re.match(r"([\d.]+) x ([\d.]+) pts", size).groups())
    assert (round(w), round(h)) == (595, 842), size
    assert "A4" in size

    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    font_rows = fonts.splitlines()[2:]
    assert font_rows, fonts
    for row in font_rows:  # every font embedded (the "emb" column)
        assert re.search(r"\byes\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$", row), fonts

    for n, point in enumerate(points, start=1):
        text = subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "有事好商量" in text and "扫码反映诉求" in text
        assert point["name"] in text, text
        assert town_name in text, text
        assert get_settings().hotline_number in text

    prefix = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(pdf), str(prefix)], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == len(points)
    for image, point in zip(images, points, strict=True):
        assert decode(cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)) == point["qr_url"], image.name


# --------------------------------------------------------------------------- codes as images


def test_codes_are_print_grade_and_keep_their_signatures():
    url = f"{BASE}/q/abc"
    assert decode_png(codes.png(url)) == url
    assert decode(rasterise_svg(codes.svg(url))) == url
    m = codes.matrix(url)
    assert not any(m[0]) and not any(m[-1]) and not any(row[0] or row[-1] for row in m)  # the quiet zone
    assert all(not any(row[:4]) for row in m)  # four modules of it
    assert decode_png(codes.png(url, level="H")) == url
    with pytest.raises(ValueError):
        codes.png(url, border=1)


def test_point_code_png_and_svg_decode_to_the_point_url(api, op):
    point = create_point(api, op)
    assert point["qr_url"] == f"{BASE}/q/{point['qr_token']}"
    assert len(point["qr_token"]) >= 22  # token_urlsafe(16): 128 random bits

    png = api.get(f"/api/points/{point['id']}/qr.png", headers=auth(op))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert decode_png(png.content) == point["qr_url"]

    svg = api.get(f"/api/points/{point['id']}/qr.svg", headers=auth(op))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert decode(rasterise_svg(svg.content)) == point["qr_url"]

    assert count(QrToken, QrToken.token == point["qr_token"], QrToken.kind == "point") == 1
    assert api.get(f"/api/points/{point['id']}/qr.png").status_code == 401


# --------------------------------------------------------------------------- rotation and revocation


def test_rotating_a_point_keeps_the_old_code_as_replaced(api, op):
    point = create_point(api, op, name="护陇议事点")
    old = point["qr_token"]
    assert api.get(f"/q/{old}").status_code == 200

    supervisor = user_token(api, "supervisor")
    assert api.post(f"/api/points/{point['id']}/rotate", headers=auth(supervisor)).status_code == 403

    res = api.post(f"/api/points/{point['id']}/rotate", headers=auth(op))
    assert res.status_code == 200, res.text
    rotated = res.json()
    new = rotated["qr_token"]
    assert new != old and rotated["qr_url"] == f"{BASE}/q/{new}" and rotated["id"] == point["id"]
    png = api.get(f"/api/points/{point['id']}/qr.png", headers=auth(op))
    assert decode_png(png.content) == rotated["qr_url"]

    with Session(get_engine()) as session:
        row = session.exec(select(QrToken).where(QrToken.token == old)).one()
        assert row.replaced_at is not None and row.replaced_by == new and row.revoked_at is None
        assert row.kind == "point" and row.target_id == point["id"]

    # the old poster: 410 Gone, naming the point and where to go — not the anonymous 404
    page = api.get(f"/q/{old}")
    assert page.status_code == 410, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "此二维码已更换" in page.text
    assert "护陇议事点" in page.text and "郭猛镇" in page.text
    assert "请扫描现场新二维码或拨打 12345" in page.text
    assert "<form" not in page.text
    assert api.get(f"/q/{new}").status_code == 200

    before = count(Case)
    res = api.post(f"/api/intake/qr/{old}", data={"content": "路灯不亮", "category": "城乡建设"})
    assert res.status_code == 410, res.text
    error = res.json()["error"]
    assert error["code"] == "qr_token_replaced"
    assert error["details"]["point_name"] == "护陇议事点" and error["details"]["village"]
    assert count(Case) == before
    ok = api.post(f"/api/intake/qr/{new}", data={"content": "路灯不亮", "category": "城乡建设"})
    assert ok.status_code == 201, ok.text

    # rotating again: both earlier codes say "replaced"
    again = api.post(f"/api/points/{point['id']}/rotate", headers=auth(op)).json()["qr_token"]
    assert api.get(f"/q/{old}").status_code == 410
    assert api.get(f"/q/{new}").status_code == 410
    assert api.get(f"/q/{again}").status_code == 200


def test_revoking_a_point_answers_404_for_its_current_and_old_codes(api, op):
    point = create_point(api, op)
    old = point["qr_token"]
    new = api.post(f"/api/points/{point['id']}/rotate", headers=auth(op)).json()["qr_token"]
    res = api.post(f"/api/points/{point['id']}/revoke", headers=auth(op))
    assert res.status_code == 200 and res.json()["active"] is False
    for token in (new, old, "no-such-token"):
        page = api.get(f"/q/{token}")
        assert page.status_code == 404, token
        assert "此二维码已更换" not in page.text
        res = api.post(f"/api/intake/qr/{token}", data={"content": "路灯不亮", "category": "城乡建设"})
        assert res.status_code == 404 and res.json()["error"]["code"] == "qr_token_invalid"
    assert count(Case) == 0
    res = api.post(f"/api/points/{point['id']}/rotate", headers=auth(op))
    assert res.status_code == 409 and res.json()["error"]["code"] == "point_revoked"


# --------------------------------------------------------------------------- members' personal codes


def test_member_code_opens_the_member_mailbox(api, op):
    member = create_member(api, op, name="王委员", town_code=GUOMENG_TOWN, sector="经济界")
    other = create_member(api, op, name="李委员", town_code=GUOMENG_TOWN)

    png = api.get(f"/api/members/{member['id']}/qr.png", headers=auth(op))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    url = decode_png(png.content)
    assert re.fullmatch(rf"{re.escape(BASE)}/mb/[A-Za-z0-9_-]{{22,}}", url), url
    token = url.rsplit("/", 1)[1]
    svg = api.get(f"/api/members/{member['id']}/qr.svg", headers=auth(op))
    assert decode(rasterise_svg(svg.content)) == url  # the same token each time

    # the member may get their own code, not another's; a supervisor neither
    mine = user_token(api, "member", member_id=member["id"])
    own = api.get(f"/api/members/{member['id']}/qr.png", headers=auth(mine))
    assert own.status_code == 200 and decode_png(own.content) == url
    assert api.get(f"/api/members/{other['id']}/qr.png", headers=auth(mine)).status_code == 403
    assert api.get(f"/api/members/{other['id']}/qr.svg", headers=auth(mine)).status_code == 403
    supervisor = user_token(api, "supervisor")
    assert api.get(f"/api/members/{member['id']}/qr.png", headers=auth(supervisor)).status_code == 403
    assert api.get("/api/members/999999/qr.png", headers=auth(op)).status_code == 404

    page = api.get(f"/mb/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "王委员" in page.text and "委员信箱" in page.text and f'action="/mb/{token}"' in page.text
    for field in ("content", "name", "phone"):
        assert f'<label for="{field}"' in page.text

    assert count(Mailbox, Mailbox.member_id == member["id"]) == 0
    res = api.post(f"/mb/{token}", data={"content": "村口路灯坏了三天", "name": "张三", "phone": "13800001111"})
    assert res.status_code == 201, res.text
    tracking_no = re.search(r'id="tracking-no">([^<]+)<', res.text).group(1)
    secret = re.search(r'id="secret">([^<]+)<', res.text).group(1)
    tracked = api.get(f"/api/track/{tracking_no}", params={"secret": secret})
    assert tracked.status_code == 200, tracked.text

    with Session(get_engine()) as session:
        case = session.exec(select(Case).where(Case.tracking_no == tracking_no)).one()
        box = session.get(Mailbox, case.mailbox_id)
    assert case.channel == "mail" and case.content == "村口路灯坏了三天" and case.reporter_name == "张三"
    assert box.kind == "member" and box.member_id == member["id"]
    assert box.address == f"member{member['id']}@{get_settings().mail_domain}"

    again = api.post(f"/mb/{token}", data={"content": "再反映一次"})
    assert again.status_code == 201
    assert count(Mailbox, Mailbox.member_id == member["id"]) == 1  # made once, then reused

    blank = api.post(f"/mb/{token}", data={"content": "  "})
    assert blank.status_code == 422 and "<form" in blank.text
    assert count(Case) == 2
    missing = api.get("/mb/no-such-token")
    assert missing.status_code == 404 and "<form" not in missing.text
    assert api.post("/mb/no-such-token", data={"content": "x"}).status_code == 404
    assert count(Case) == 2


def test_member_code_uses_an_existing_mailbox_and_rotates(api, op):
    member = create_member(api, op, name="赵委员", town_code=GUOMENG_TOWN)
    with Session(get_engine()) as session:
        session.add(Mailbox(address="zhao@cppcc.example.cn", kind="member", member_id=member["id"]))
        session.commit()
    url = api.get(f"/api/members/{member['id']}/qr", headers=auth(op)).json()["qr_url"]
    old = url.rsplit("/", 1)[1]
    res = api.post(f"/mb/{old}", data={"content": "反映问题"})
    assert res.status_code == 201
    with Session(get_engine()) as session:
        case = session.exec(select(Case)).one()
        assert session.get(Mailbox, case.mailbox_id).address == "zhao@cppcc.example.cn"

    result = CliRunner().invoke(cli_app, ["qr", "rotate", "--member", str(member["id"])])
    assert result.exit_code == 0, result.output
    new_url = result.stdout.split()[-1]
    assert new_url != url and new_url.startswith(f"{BASE}/mb/")
    page = api.get(f"/mb/{old}")
    assert page.status_code == 410 and "此二维码已更换" in page.text and "赵委员" in page.text
    assert api.post(f"/mb/{old}", data={"content": "x"}).status_code == 410
    assert api.get(f"/mb/{new_url.rsplit('/', 1)[1]}").status_code == 200
    assert count(Case) == 1

    # operators rotate through the API too (a lost card); members and supervisors may not
    member_token = user_token(api, "member", member_id=member["id"])
    for who in (member_token, user_token(api, "supervisor")):
        assert api.post(f"/api/members/{member['id']}/qr/rotate", headers=auth(who)).status_code == 403
    assert api.post("/api/members/999999/qr/rotate", headers=auth(op)).status_code == 404
    res = api.post(f"/api/members/{member['id']}/qr/rotate", headers=auth(op))
    assert res.status_code == 200, res.text
    api_url = res.json()["qr_url"]
    assert api_url not in (url, new_url) and api_url.startswith(f"{BASE}/mb/")
    assert decode_png(api.get(f"/api/members/{member['id']}/qr.png", headers=auth(op)).content) == api_url
    assert api.get(f"/mb/{new_url.rsplit('/', 1)[1]}").status_code == 410
    assert api.get(f"/mb/{api_url.rsplit('/', 1)[1]}").status_code == 200


# --------------------------------------------------------------------------- posters


@needs_poppler
def test_town_posters_one_a4_page_per_point(api, op, tmp_path):
    points = [
        create_point(api, op, village, name)
        for village, name in zip(GUOMENG_VILLAGES, ("刘垛议事室", "护陇委员工作室", "护西意见征集点"), strict=True)
    ]
    revoked = create_point(api, op, GUOMENG_VILLAGES[0], "已停用点位")
    api.post(f"/api/points/{revoked['id']}/revoke", headers=auth(op))
    supervisor = user_token(api, "supervisor")
    assert api.get(f"/api/points/posters.pdf?town_code={GUOMENG_TOWN}", headers=auth(supervisor)).status_code == 403

    res = api.get(f"/api/points/posters.pdf?town_code={GUOMENG_TOWN}", headers=auth(op))
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/pdf" and res.content.startswith(b"%PDF")
    pdf = tmp_path / "town.pdf"
    pdf.write_bytes(res.content)
    check_posters(pdf, points, "郭猛镇", tmp_path)

    one = api.get(f"/api/points/{points[1]['id']}/poster.pdf", headers=auth(op))
    assert one.status_code == 200 and one.headers["content-type"] == "application/pdf"
    single = tmp_path / "single" / "one.pdf"
    single.parent.mkdir()
    single.write_bytes(one.content)
    check_posters(single, [points[1]], "郭猛镇", single.parent)

    assert api.get("/api/points/posters.pdf?town_code=nowhere", headers=auth(op)).status_code == 422
    assert api.get(f"/api/points/{revoked['id']}/poster.pdf", headers=auth(op)).status_code == 404


# --------------------------------------------------------------------------- the CLI


@needs_poppler
def test_cli_png_rotate_and_posters(api, op, tmp_path):
    points = [create_point(api, op, v, f"点位{n}") for n, v in enumerate(GUOMENG_VILLAGES[:2], start=1)]
    runner = CliRunner()

    out = tmp_path / "p.png"
    result = runner.invoke(cli_app, ["qr", "png", "--point", str(points[0]["id"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert decode_png(out.read_bytes()) == points[0]["qr_url"]

    result = runner.invoke(cli_app, ["qr", "rotate", "--point", str(points[0]["id"])])
    assert result.exit_code == 0, result.output
    new_url = result.stdout.split()[-1]
    assert new_url != points[0]["qr_url"]
    with Session(get_engine()) as session:
        assert session.get(Point, points[0]["id"]).qr_token == new_url.rsplit("/", 1)[1]
    assert api.get(f"/q/{points[0]['qr_token']}").status_code == 410
    points[0]["qr_url"] = new_url

    pdf = tmp_path / "posters" / "town.pdf"
    pdf.parent.mkdir()
    result = runner.invoke(cli_app, ["qr", "posters", "--town", GUOMENG_TOWN, "--out", str(pdf)])
    assert result.exit_code == 0, result.output
    assert "2 posters" in result.stdout
    check_posters(pdf, points, "郭猛镇", pdf.parent)

    bad = runner.invoke(cli_app, ["qr", "rotate", "--point", "999999"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    empty = runner.invoke(cli_app, ["qr", "posters", "--town", "320903002", "--out", str(tmp_path / "x.pdf")])
    assert empty.exit_code != 0 and "No active points" in empty.stderr


@needs_poppler
def test_serve_on_another_port_puts_that_port_in_qr_codes_and_posters(env, monkeypatch, tmp_path):
    """Without SHANGLIANG_PUBLIC_BASE_URL a printed poster leads to the port `serve` listens on, not 8000."""
    monkeypatch.delenv("SHANGLIANG_PUBLIC_BASE_URL", raising=False)
    with Session(get_engine()) as session:
        create_user(session, "op", PASSWORD, "operator")
        session.commit()
    proc, base = serve_process("serve-links")
    try:
        assert f"QR codes, posters and links use {base}" in proc.output()
        with httpx.Client(base_url=base, timeout=30) as client:
            token = client.post("/api/auth/token", json={"username": "op", "password": PASSWORD}).json()
            point = create_point(client, token["access_token"])
            assert point["qr_url"].startswith(f"{base}/q/"), point["qr_url"]
            assert (
                decode_png(client.get(f"/api/points/{point['id']}/qr.png", headers=auth(token["access_token"])).content)
                == point["qr_url"]
            )
            poster = client.get(f"/api/points/{point['id']}/poster.pdf", headers=auth(token["access_token"]))
            assert poster.status_code == 200
            pdf = tmp_path / "poster.pdf"
            pdf.write_bytes(poster.content)
            check_posters(pdf, [point], "郭猛镇", tmp_path)
            assert client.get(point["qr_url"].removeprefix(base)).status_code == 200  # the link leads to the form
    finally:
        proc.stop()
