"""Static files: content-hashed names cached for a year, gzip for text, revalidation for everything else.

Pages link ``static("board.js")`` → ``/static/board.<10 hex of its SHA-256>.js``. A new release (or an edit under
``make run``) changes the name, so a browser may keep a hashed file forever (``immutable``) and never runs a stale
one. An unhashed name, or a hash that is no longer current (a page from before a deploy), is served with
``no-cache``: the browser revalidates it with its ETag. Text types are sent gzip-compressed to clients that accept
it, compressed once per file version and kept in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
import stat
from functools import lru_cache
from pathlib import Path

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = frozenset({".js", ".css", ".svg", ".json", ".map", ".txt", ".html", ".ico"})
MIN_GZIP = 1024  # below this, the gzip header costs more than it saves
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})(?P<ext>\.[A-Za-z0-9]+)$")


@lru_cache(maxsize=2048)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """The first 10 hex digits of the file's SHA-256 (keyed by mtime and size: an edited file gets a new one)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()[:10]


@lru_cache(maxsize=64)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    with open(path, "rb") as fh:
        return gzip.compress(fh.read(), compresslevel=9, mtime=0)


def _version(full: Path | str, st: os.stat_result) -> str:
    return _digest(str(full), st.st_mtime_ns, st.st_size)


def url(name: str) -> str:
    """The hashed URL of a file under web/static (``"vendor/leaflet/leaflet.js"``). A missing file is a bug in
    the template that names it: it raises at render time, in tests, not as a 404 in a user's browser."""
    full = STATIC / name
    st = full.stat()
    stem, ext = os.path.splitext(name)
    return f"{PREFIX}{stem}.{_version(full, st)}{ext}"


class Assets(StaticFiles):
    """``StaticFiles`` that understands hashed names and compresses text."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        wanted = None
        m = _HASHED.match(path)
        if m:
            path, wanted = m["stem"] + m["ext"], m["digest"]
        try:
            full, st = await anyio.to_thread.run_sync(self.lookup_path, path)
        except (OSError, ValueError):  # too long, null bytes, unreadable
            raise HTTPException(status_code=404) from None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise HTTPException(status_code=404)
        version = await anyio.to_thread.run_sync(_version, full, st)
        cache = IMMUTABLE if wanted == version else REVALIDATE
        headers = Headers(scope=scope)
        ext = os.path.splitext(full)[1].lower()
        gz = ext in COMPRESSIBLE and st.st_size >= MIN_GZIP and "gzip" in headers.get("accept-encoding", "")
        etag = f'"{version}{"-gz" if gz else ""}"'
        common = {"Cache-Control": cache, "ETag": etag, "Vary": "Accept-Encoding"}
        if etag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=common)
        if not gz:
            response = self.file_response(full, st, scope)
            response.headers.update(common)
            return response
        body = await anyio.to_thread.run_sync(_gzipped, full, st.st_mtime_ns, st.st_size)
        media_type = mimetypes.guess_type(full)[0] or "application/octet-stream"
        return Response(body, media_type=media_type, headers=common | {"Content-Encoding": "gzip"})
