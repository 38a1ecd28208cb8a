"""QR images for print: error correction level Q survives a scuffed poster."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_Q


def _make(url: str, **kw) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=10, border=4, **kw)
    code.add_data(url)
    code.make(fit=True)
    return code


def png(url: str) -> bytes:
    buf = io.BytesIO()
    _make(url).make_image().save(buf, format="PNG")
    return buf.getvalue()


def svg(url: str) -> bytes:
    buf = io.BytesIO()
    _make(url, image_factory=qrcode.image.svg.SvgPathImage).make_image().save(buf)
    return buf.getvalue()
