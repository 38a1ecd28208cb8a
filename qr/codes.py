"""QR images for print: error correction level Q (25 % of the code may be lost: a scuffed or sun-bleached
poster still scans) and the standard four-module quiet zone around it.

``png(url)`` and ``svg(url)`` are the stable entry points (meeting check-in codes use them too); ``matrix(url)``
gives the modules for drawing a vector code in a PDF.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q

LEVELS = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M, "Q": ERROR_CORRECT_Q, "H": ERROR_CORRECT_H}
QUIET_ZONE = 4  # modules: the minimum ISO/IEC 18004 asks for


def _make(url: str, level: str = "Q", box_size: int = 10, border: int = QUIET_ZONE, **kw) -> qrcode.QRCode:
    if level not in LEVELS:
        raise ValueError(f"error correction level must be one of {', '.join(LEVELS)}, not {level!r}")
    if border < QUIET_ZONE:
        raise ValueError(f"the quiet zone must be at least {QUIET_ZONE} modules")
    code = qrcode.QRCode(error_correction=LEVELS[level], box_size=box_size, border=border, **kw)
    code.add_data(url)
    code.make(fit=True)
    return code


def png(url: str, *, level: str = "Q", box_size: int = 10, border: int = QUIET_ZONE) -> bytes:
    """A black-on-white PNG, ``box_size`` pixels per module (10: 330+ px for a short URL)."""
    buf = io.BytesIO()
    _make(url, level, box_size, border).make_image(fill_color="black", back_color="white").save(buf, format="PNG")
    return buf.getvalue()


def svg(url: str, *, level: str = "Q", border: int = QUIET_ZONE) -> bytes:
    """A standalone SVG (one path on a white background): scales to any print size."""
    buf = io.BytesIO()
    _make(url, level, 10, border, image_factory=qrcode.image.svg.SvgPathFillImage).make_image().save(buf)
    return buf.getvalue()


def matrix(url: str, *, level: str = "Q", border: int = QUIET_ZONE) -> list[list[bool]]:
    """The modules, quiet zone included (True = dark), row by row from the top."""
    return _make(url, level, 1, border).get_matrix()
