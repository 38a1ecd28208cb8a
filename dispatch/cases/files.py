"""What a stored attachment may be, decided from its bytes: every mailed or uploaded file is hostile.

Two kinds only. An *image* is a JPEG or PNG that ``dispatch.intake.service.read_photo`` decoded and re-encoded
(the one image rule); it alone may be shown inline. Anything else is a *file*: stored with a type from a short
allow-list, confirmed by its magic bytes, else ``application/octet-stream``, and only ever served as a
download. SVG, HTML, XML and scripts are never more than octet-stream. No Pillow and no database here: the
parser (``intake.mailparse``), the store (``cases.service``) and the download (``cases.views``) share it.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

OCTET_STREAM = "application/octet-stream"
MAX_FILENAME = 120
_MAX_EXTENSION = 16

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the legacy Office container
_ZIP = b"PK\x03\x04"  # OOXML
# the re-encoded images: stored type -> magic
IMAGES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
# files kept with their own type (a download either way), when their bytes agree: type -> magic
FILE_TYPES = {
    "application/pdf": b"%PDF-",
    "application/msword": _OLE,
    "application/vnd.ms-excel": _OLE,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _ZIP,
}
_BY_EXTENSION = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

Kind = Literal["image", "file"]


def safe_filename(name: str | None, default: str = "attachment") -> str:
    """A name to store and offer for download: its last path segment, without control or format characters
    (NUL, CR/LF, right-to-left overrides, zero-width…) or leading dots, whitespace collapsed, at most
    ``MAX_FILENAME`` characters with the extension kept; ``default`` when nothing is left."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # Cc, Cf, Co, Cs, Cn
    name = " ".join(name.split()).lstrip(". ")  # every Unicode space and line/paragraph separator: one space
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if stem and 0 < len(ext) < _MAX_EXTENSION else ""
        name = name[: MAX_FILENAME - len(ext)].rstrip() + ext
    return name or default


def is_image(content_type: str | None, data: bytes) -> bool:
    """A re-encoded JPEG/PNG: its stored type is one of those and its bytes start as that type does (rows
    stored before every file was checked may say image/jpeg over HTML)."""
    magic = IMAGES.get((content_type or "").lower())
    return magic is not None and data.startswith(magic)


def kind(content_type: str | None, data: bytes) -> Kind:
    return "image" if is_image(content_type, data) else "file"


def file_type(content_type: str | None, filename: str | None, data: bytes) -> str:
    """The type a (non-image) file is stored and downloaded with: an allow-listed type, named by the sender or
    by the extension, that the bytes confirm; else octet-stream. Never an image, text, markup or script type."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    ext = "." + filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    for candidate in (declared, _BY_EXTENSION.get(ext)):
        magic = FILE_TYPES.get(candidate or "")
        if candidate and magic is not None and data.startswith(magic):
            return candidate
    return OCTET_STREAM


def stored_type(content_type: str | None, filename: str | None, data: bytes) -> str:
    """The type to store: a re-encoded image keeps its type, everything else gets ``file_type``."""
    if content_type and is_image(content_type, data):
        return content_type.lower()
    return file_type(content_type, filename, data)
