"""Hostile spreadsheets, out and in.

Out: names that look like formulas (members', departments' names come from offices' spreadsheets) are written to
the inspection XLSX as plain text cells, never as formulas.
In: the members import refuses, with clear codes and before the work is done, a sheet of 100,000 rows (it stops
reading at the limit), a sheet that declares a million rows, a 1,000,000-row file of a few hundred KB, a zip
bomb; and names holding control characters.
"""

from __future__ import annotations

import io
import re
import tracemalloc
import zipfile

from helpers import auth, create_member, user_token
from openpyxl import Workbook, load_workbook

from dispatch.members import importer

FORMULA_NAME = '=HYPERLINK("http://evil","x")'
FORMULA_DEPT = "@SUM(1+1)"


def _ok(res, status: int = 200) -> dict:
    assert res.status_code == status, res.text
    return res.json()


def _upload(api, token: str, name: str, data: bytes):
    return api.post("/api/members/import", files={"file": (name, data)}, headers=auth(token))


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rezip(data: bytes, replace: dict[str, object]) -> bytes:
    """The workbook ``data`` with some entries replaced: bytes, or an iterable of byte chunks (streamed)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            new = replace.get(info.filename)
            if new is None:
                dst.writestr(info.filename, src.read(info.filename))
            elif isinstance(new, bytes):
                dst.writestr(info.filename, new)
            else:
                with dst.open(info.filename, "w", force_zip64=True) as fh:
                    for chunk in new:
                        fh.write(chunk)
    return out.getvalue()


SMALL = [["姓名", "层级"], ["甲", "区"]]


def _with_rows(rows) -> bytes:
    """A valid workbook (openpyxl's own, of ``SMALL``) whose sheet data is ``rows``: byte chunks of ``<row>``s."""
    small = _xlsx(SMALL)
    sheet = zipfile.ZipFile(io.BytesIO(small)).read("xl/worksheets/sheet1.xml")
    head, _, tail = sheet.partition(b"<sheetData>")
    tail = tail.partition(b"</sheetData>")[2]
    head = re.sub(rb"<dimension [^>]*/>", b"", head)  # like openpyxl's write-only mode: no declared size

    def chunks():
        yield head + b"<sheetData>"
        yield from rows
        yield b"</sheetData>" + tail

    return _rezip(small, {"xl/worksheets/sheet1.xml": chunks()})


def _members(n: int):
    """The header and ``n`` distinct members, 10,000 rows a chunk."""
    cell = b'<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>'
    yield b'<row r="1">' + cell % (b"A", 1, "姓名".encode()) + cell % (b"B", 1, "层级".encode()) + b"</row>"
    for start in range(2, n + 2, 10_000):
        yield b"".join(
            b'<row r="%d">' % r + cell % (b"A", r, f"委员{r}".encode()) + cell % (b"B", r, "区".encode()) + b"</row>"
            for r in range(start, min(start + 10_000, n + 2))
        )


def test_formula_like_names_are_text_cells_in_the_inspection_xlsx(api):
    admin, op = user_token(api, "admin"), user_token(api, "operator")
    sup = user_token(api, "supervisor")
    v = api.get("/api/regions?level=village", headers=auth(op)).json()[5]
    member = create_member(api, op, name=FORMULA_NAME, town_code=v["parent_code"], on_duty=False)
    dept = _ok(api.post("/api/departments", json={"name": FORMULA_DEPT}, headers=auth(admin)), 201)
    body = {"content": "路灯不亮", "lat": v["lat"], "lon": v["lon"]}
    assigned, forwarded = (_ok(api.post("/api/cases", json=body, headers=auth(op)), 201) for _ in range(2))
    _ok(api.post(f"/api/cases/{assigned['id']}/assign", json={"member_id": member["id"]}, headers=auth(op)))
    _ok(api.post(f"/api/cases/{forwarded['id']}/forward", json={"department_id": dept["id"]}, headers=auth(op)))

    res = api.get("/api/reports/inspection.xlsx", headers=auth(sup))
    assert res.status_code == 200, res.text
    wb = load_workbook(io.BytesIO(res.content))
    for sheet, name in (("委员排名", FORMULA_NAME), ("部门排名", FORMULA_DEPT)):
        [cell] = [c for row in wb[sheet].iter_rows(min_row=2) for c in row if c.value == name]
        assert cell.data_type == "s", (sheet, cell.data_type)
        assert cell.quotePrefix  # Excel keeps it text even when the cell is edited
    archive = zipfile.ZipFile(io.BytesIO(res.content))
    sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
    assert sheets and not any(re.search(rb"<f[ >]", archive.read(n)) for n in sheets)  # no formula anywhere


def test_the_import_stops_reading_at_the_limit_and_refuses_bombs(api):
    op = user_token(api, "operator")

    # 100,000 rows, under 1 MB on disk, no declared dimension: read up to the limit, then refused
    big = _with_rows(_members(100_000))
    assert len(big) < 2**20
    assert len(importer.read_table(_with_rows(_members(importer.MAX_ROWS)), "x.xlsx")) == importer.MAX_ROWS + 1
    res = _upload(api, op, "big.xlsx", big)
    assert res.status_code == 413, res.text
    err = res.json()["error"]
    assert err["code"] == "too_many_rows"
    assert err["details"]["max_rows"] == importer.MAX_ROWS
    assert err["details"]["rows_read"] <= importer.MAX_ROWS + 2  # the header, the limit, and the one too many
    # the same read in this process: memory stays bounded (reading all 100,000 rows peaked at 34 MB)
    tracemalloc.start()
    try:
        importer.read_table(big, "big.xlsx")
        raise AssertionError("not refused")
    except importer.FileTooLarge as exc:
        assert exc.code == "too_many_rows"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak

    # a sheet that declares a million rows is refused before any row is read
    small = _xlsx(SMALL)
    sheet = zipfile.ZipFile(io.BytesIO(small)).read("xl/worksheets/sheet1.xml")
    assert b'<dimension ref="A1:B2"' in sheet
    declared = _rezip(small, {"xl/worksheets/sheet1.xml": sheet.replace(b"A1:B2", b"A1:B1000000")})
    res = _upload(api, op, "declared.xlsx", declared)
    assert res.status_code == 413, res.text
    err = res.json()["error"]
    assert (err["code"], err["details"]["declared_rows"], err["details"]["rows_read"]) == ("too_many_rows", 10**6, 0)

    # 1,000,000 rows in a few hundred KB (the file of the report): refused from the archive's directory
    row = b'<row><c t="inlineStr"><is><t>a</t></is></c></row>'  # r= is optional
    million = _with_rows(row * 10_000 for _ in range(100))
    assert len(million) < 400_000
    res = _upload(api, op, "million.xlsx", million)
    assert res.status_code == 413, res.text
    err = res.json()["error"]
    assert err["code"] == "xlsx_too_large"
    assert err["details"]["unzipped_bytes"] > err["details"]["max_unzipped_bytes"] == importer.MAX_UNZIPPED_BYTES

    # a zip bomb under the size limit: one entry a thousand times smaller than it unpacks
    bomb = _with_rows(b" " * 2**20 for _ in range(12))
    res = _upload(api, op, "bomb.xlsx", bomb)
    assert res.status_code == 413, res.text
    err = res.json()["error"]
    assert (err["code"], err["details"]["entry"]) == ("xlsx_ratio_too_high", "xl/worksheets/sheet1.xml")
    assert err["details"]["ratio"] > err["details"]["max_ratio"]

    assert _ok(api.get("/api/members", headers=auth(op))) == []
    # and a file within the limits still imports
    assert _ok(_upload(api, op, "ok.xlsx", small))["created"] == 1


def test_names_with_control_characters_are_refused(api):
    op = user_token(api, "operator")
    for name, data in (
        ("nul.csv", "姓名,层级\n张\x00三,区\n".encode()),
        ("bidi.xlsx", _xlsx([["姓名", "层级"], ["李\u202e四", "区"]])),
        ("c1.xlsx", _xlsx([["姓名", "层级", "界别"], ["王五", "区", "农业\u0085界"]])),
    ):
        res = _upload(api, op, name, data)
        assert res.status_code == 422, res.text
        errors = res.json()["error"]["details"]["errors"]
        assert [e["code"] for e in errors] == ["invalid_characters"], errors
    assert _ok(api.get("/api/members", headers=auth(op))) == []
    # a line break between categories is fine
    ok = _xlsx([["姓名", "层级", "擅长类别"], ["赵六", "区", "城乡建设\n环境保护"]])
    assert _ok(_upload(api, op, "ok.xlsx", ok))["created"] == 1
    [member] = _ok(api.get("/api/members", headers=auth(op)))
    assert member["categories"] == ["城乡建设", "环境保护"]
