"""A4 posters for points (扫码反映诉求): title, the point's name, town and village, how to use it, a large QR code
(9 cm, vector), the hotline and how to follow the case — in Chinese, with an embedded TrueType CJK font.

The font: Debian's fonts-wqy-zenhei (``apt-get install fonts-wqy-zenhei``) or any TrueType CJK font named by
``SHANGLIANG_POSTER_FONT`` (a .ttf or .ttc path). reportlab embeds the glyphs used (a subset), so the PDF prints
the same everywhere. OpenType/CFF fonts (Noto Sans CJK's .otf/.ttc) cannot be embedded by reportlab.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qr import codes

FONT_NAME = "ShangliangCJK"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
TITLE = "有事好商量 · 扫码反映诉求"
STEPS = (
    "1. 用手机微信或相机扫描下方二维码",
    "2. 选择诉求分类，写清地点和情况，可附照片",
    "3. 提交后保存受理编号和查询码，随时查看办理进度",
)
QR_SIZE_CM = 9.0


class PosterFontMissing(RuntimeError):
    pass


@dataclass
class PosterPoint:
    name: str
    town: str
    village: str
    url: str


_registered: str | None = None


def font_path() -> Path:
    override = os.environ.get("SHANGLIANG_POSTER_FONT")
    candidates = [override] if override else list(FONT_CANDIDATES)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    where = f"SHANGLIANG_POSTER_FONT={override} does not exist" if override else "no CJK TrueType font found"
    raise PosterFontMissing(
        f"{where}: install the Debian package fonts-wqy-zenhei (apt-get install fonts-wqy-zenhei) "
        "or set SHANGLIANG_POSTER_FONT to a TrueType CJK font (.ttf/.ttc) / "
        "海报需要中文字体：请安装 fonts-wqy-zenhei"
    )


def register_font() -> str:
    global _registered
    if _registered:
        return _registered
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path = font_path()
    kw = {"subfontIndex": 0} if path.suffix.lower() == ".ttc" else {}
    try:
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), **kw))
    except Exception as exc:  # noqa: BLE001 - e.g. a CFF-flavoured OpenType font
        raise PosterFontMissing(
            f"{path} cannot be embedded ({exc}); install fonts-wqy-zenhei or point SHANGLIANG_POSTER_FONT "
            "at a TrueType CJK font"
        ) from exc
    _registered = FONT_NAME
    return FONT_NAME


def _draw_qr(c, url: str, x: float, y: float, size: float) -> None:
    """The code as filled rectangles (one per horizontal run of dark modules), quiet zone included in ``size``."""
    m = codes.matrix(url)
    n = len(m)
    unit = size / n
    c.setFillColorRGB(1, 1, 1)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(m):
        top = y + size - (r + 1) * unit
        start = None
        for col, dark in enumerate([*row, False]):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                # a hair wider than the run so anti-aliasing leaves no seams between rows
                c.rect(x + start * unit, top - 0.05, (col - start) * unit, unit + 0.1, stroke=0, fill=1)
                start = None


def _centred(c, text: str, y: float, size: float, width: float, font: str) -> None:
    c.setFont(font, size)
    c.drawCentredString(width / 2, y, text)


def _page(c, p: PosterPoint, hotline: str, font: str) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm

    width, height = A4
    c.setFillColorRGB(0.72, 0.08, 0.08)  # a red band, as on the county's notice boards
    c.rect(0, height - 3.4 * cm, width, 3.4 * cm, stroke=0, fill=1)
    c.setFillColorRGB(1, 1, 1)
    _centred(c, TITLE, height - 2.25 * cm, 28, width, font)
    c.setFillColorRGB(0, 0, 0)
    name_size = 24 if len(p.name) <= 18 else 18
    _centred(c, p.name, height - 5.0 * cm, name_size, width, font)
    c.setFillColorRGB(0.25, 0.25, 0.25)
    _centred(c, " · ".join(x for x in (p.town, p.village) if x), height - 6.0 * cm, 15, width, font)

    size = QR_SIZE_CM * cm
    qr_y = height - 7.0 * cm - size
    _draw_qr(c, p.url, (width - size) / 2, qr_y, size)

    c.setFillColorRGB(0, 0, 0)
    c.setFont(font, 14)
    y = qr_y - 1.2 * cm
    left = 3.0 * cm
    for step in STEPS:
        c.drawString(left, y, step)
        y -= 0.9 * cm
    y -= 0.4 * cm
    _centred(c, f"不方便扫码？请拨打市民热线 {hotline}", y, 18, width, font)
    y -= 0.9 * cm
    c.setFillColorRGB(0.3, 0.3, 0.3)
    _centred(c, f"查询进度：提交后保存受理编号和查询码，凭它们在线查询或致电 {hotline}", y, 11, width, font)
    c.setFont(font, 8)
    c.drawCentredString(width / 2, 1.2 * cm, p.url)


def build(points: Iterable[PosterPoint], hotline: str, progress: Callable[[int], object] | None = None) -> bytes:
    """One A4 page per point, in one PDF."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = register_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, pageCompression=1, initialFontName=font, initialFontSize=12)
    c.setTitle(TITLE)
    c.setAuthor("Shangliang 商量")
    pages = 0
    for p in points:
        _page(c, p, hotline, font)
        c.showPage()
        pages += 1
        if progress:
            progress(1)
    if not pages:
        raise ValueError("no points to print")
    c.save()
    return buf.getvalue()
