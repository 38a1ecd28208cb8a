"""What crosses a weak network compressed: pages and API answers are gzipped for clients that take gzip,
already-compressed files are not compressed twice, and clients that take no gzip get plain bytes."""

from __future__ import annotations

import gzip
import json

import httpx
from helpers import auth, user_token


def _raw(server, path: str, token: str | None = None, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its bytes as sent on the wire (httpx would undo the gzip)."""
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=server.url, timeout=30) as client, client.stream("GET", path, headers=headers) as res:
        return res, b"".join(res.iter_raw())


def test_json_and_pages_are_gzipped_for_clients_that_take_it(api, server):
    token = user_token(api, "operator", "op")
    res, wire = _raw(server, "/api/regions", token, **{"Accept-Encoding": "gzip"})
    assert res.status_code == 200
    assert res.headers["content-encoding"] == "gzip" and "accept-encoding" in res.headers["vary"].lower()
    plain = gzip.decompress(wire)
    regions = json.loads(plain)
    assert len(regions) > 200 and len(wire) < len(plain) / 3

    res, wire = _raw(server, "/api/regions", token, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in res.headers and json.loads(wire) == regions

    page, wire = _raw(server, "/login", **{"Accept-Encoding": "gzip, br"})
    assert page.headers["content-encoding"] == "gzip" and "<html" in gzip.decompress(wire).decode()


def test_small_answers_and_compressed_files_are_sent_as_they_are(api, server):
    res, wire = _raw(server, "/healthz", **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in res.headers and json.loads(wire) == {"status": "ok"}

    token = user_token(api, "admin", "adm")
    xlsx, wire = _raw(server, "/api/members/import/template.xlsx", token, **{"Accept-Encoding": "gzip"})
    assert xlsx.status_code == 200 and "content-encoding" not in xlsx.headers and wire[:2] == b"PK"

    village = api.get("/api/regions?level=village", headers=auth(token)).json()[0]
    points = api.post("/api/points", json={"name": "压缩测试点", "village_code": village["code"]}, headers=auth(token))
    assert points.status_code == 201, points.text
    png, wire = _raw(server, f"/api/points/{points.json()['id']}/qr.png", token, **{"Accept-Encoding": "gzip"})
    assert png.status_code == 200 and "content-encoding" not in png.headers and wire[:4] == b"\x89PNG"
