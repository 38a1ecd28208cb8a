"""Static files as a browser on a slow network meets them: pages name content-hashed files that may be cached for
a year, text comes gzip-compressed, and an old or unhashed name is revalidated, never cached stale."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import httpx

from web import assets

STATIC = Path(assets.__file__).parent / "static"
LINK = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def _raw(server, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its bytes as sent (httpx would undo the gzip)."""
    with httpx.Client(base_url=server.url, timeout=30) as client, client.stream("GET", path, headers=headers) as res:
        return res, b"".join(res.iter_raw())


def test_pages_link_hashed_files_that_are_cached_for_a_year_and_gzipped(api, server):
    links = LINK.findall(api.get("/login").text)
    assert links, "the sign-in page links its CSS and JS"
    for link in links:
        assert re.search(r"\.[0-9a-f]{10}\.(js|css)$", link), link
    app_js = next(link for link in links if re.search(r"/static/app\.[0-9a-f]{10}\.js$", link))
    res, body = _raw(server, app_js, **{"Accept-Encoding": "gzip"})
    assert res.status_code == 200
    assert res.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert res.headers["content-encoding"] == "gzip" and "javascript" in res.headers["content-type"]
    original = (STATIC / "app.js").read_bytes()
    assert gzip.decompress(body) == original and len(body) < len(original) / 2

    # the browser's revalidation of what it holds: 304, no body
    again, body = _raw(server, app_js, **{"Accept-Encoding": "gzip", "If-None-Match": res.headers["etag"]})
    assert again.status_code == 304 and body == b""
    # a client that takes no gzip gets the plain bytes
    plain, body = _raw(server, app_js, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and body == original


def test_unhashed_and_outdated_names_are_revalidated_and_unknown_files_are_404(api):
    plain = api.get("/static/app.js")
    assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache" and plain.headers["etag"]
    stale = api.get("/static/app.0123456789.js")  # a page from before a deploy: today's file, not cached for good
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert stale.content == (STATIC / "app.js").read_bytes()
    for missing in ("/static/nope.js", "/static/nope.0123456789.js", "/static/../dispatch/config.py"):
        assert api.get(missing).status_code == 404, missing
    assert api.post("/static/app.js").status_code == 405


def test_an_edited_file_gets_a_new_name(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "STATIC", tmp_path)
    (tmp_path / "x.js").write_text("one")
    first = assets.url("x.js")
    (tmp_path / "x.js").write_text("two, longer")
    assert re.fullmatch(r"/static/x\.[0-9a-f]{10}\.js", first) and assets.url("x.js") != first
