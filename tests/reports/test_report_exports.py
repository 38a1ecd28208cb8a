"""Inspection report exports: the PDF (A4, Chinese text findable by pdftotext), the XLSX (same totals as the page
and /api/reports/kpis), the weekly job (one report per week however often it runs) and role checks."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from helpers import auth, user_token
from openpyxl import load_workbook
from sqlmodel import Session, create_engine, select
from test_kpis import PERIOD, build

from dispatch.regions.models import Region
from dispatch.reports import export, formulas, kpis
from dispatch.reports.models import WeeklyReport

POPPLER = all(shutil.which(t) for t in ("pdfinfo", "pdftotext"))


@pytest.fixture
def data(db):
    return build(db)


@pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")
def test_pdf_is_a4_and_has_the_town_names_and_period(api, data, db, tmp_path):
    sup = user_token(api, "supervisor", "sup")
    res = api.get("/api/reports/inspection.pdf", params=PERIOD, headers=auth(sup))
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(res.content)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "(A4)" in info
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    names = [db.get(Region, data[k]).name for k in ("a", "b")]
    for needle in ("督查报告", "2025-03-03", "2025-03-09", *names, "KPI-04", "KPI-05"):
        assert needle in text, needle


def test_xlsx_totals_equal_the_page_and_the_kpis(api, data):
    sup = user_token(api, "supervisor", "sup")
    res = api.get("/api/reports/inspection.xlsx", params=PERIOD, headers=auth(sup))
    assert res.status_code == 200, res.text
    wb = load_workbook(io.BytesIO(res.content))
    assert wb.sheetnames == ["各镇街KPI", "超期工单", "委员排名", "部门排名", "协商覆盖"]
    ws = wb["各镇街KPI"]
    head = [c.value for c in ws[2]]
    rows = {r[0]: dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)}
    page = api.get("/api/reports/towns", params=PERIOD, headers=auth(sup)).json()
    kpis = api.get("/api/reports/kpis", params={**PERIOD, "by": "town"}, headers=auth(sup)).json()
    for code, want in [*((t["town_code"], t) for t in page["towns"]), ("合计", page["total"])]:
        got = rows[code]
        assert (got["受理量"], got["办结量"], got["按期办结量"], got["满意量"], got["超期未办"]) == (
            want["intake"],
            want["resolved"],
            want["on_time"],
            want["satisfied"],
            want["overdue"],
        )
        assert (got["办结率"], got["按期办结率"], got["满意率"]) == (
            want["resolution_rate"],
            want["on_time_rate"],
            want["satisfaction_rate"],
        )
    total = rows["合计"]
    assert total["受理量"] == kpis["total"]["received"] == 9
    assert (total["响应率分子"], total["响应率分母"]) == (7, 8)
    assert (total["平均办理时长(时)"], total["P90办理时长(时)"]) == (24.5, 48.0)
    overdue = [r[0] for r in wb["超期工单"].iter_rows(min_row=2, values_only=True)]
    assert overdue == [o["tracking_no"] for o in page["overdue"]] and {"KPI-04", "KPI-05"} <= set(overdue)
    members = list(wb["委员排名"].iter_rows(min_row=2, values_only=True))
    assert [(m[2], m[4]) for m in members] == [("甲委员", 3), ("乙委员", 1)]


def test_weekly_job_stores_one_report_per_week(env, db, data):
    from dispatch.reports import flows
    from workers import jobs

    monday = datetime(2025, 3, 10, 0, 0, tzinfo=UTC)  # 08:00 Beijing, Monday 10 March: the week of 3 March
    first = flows.run_weekly(monday)
    again = flows.run_weekly(monday)
    assert first == again
    rows = db.exec(select(WeeklyReport)).all()
    assert [(r.week_start.isoformat(), r.week_end.isoformat(), r.totals["intake"]) for r in rows] == [
        ("2025-03-03", "2025-03-09", 9)
    ]
    assert rows[0].pdf.startswith(b"%PDF")
    db.rollback()  # end the read: SQLite would block the job's write
    assert flows.next_run(monday).isoformat() == "2025-03-17T08:00:00+08:00"
    # 07:59 Beijing on the Monday: this morning's run is still ahead
    assert flows.next_run(datetime(2025, 3, 9, 23, 59, tzinfo=UTC)).isoformat() == "2025-03-10T08:00:00+08:00"
    assert isinstance(jobs.weekly_report(), int)  # the RQ entry point (the week before the real today)


def test_weekly_list_and_download(api, data):
    from dispatch.reports import flows

    flows.run_weekly(datetime(2025, 3, 10, 0, 0, tzinfo=UTC))
    sup = user_token(api, "supervisor", "sup")
    listing = api.get("/api/reports/weekly", headers=auth(sup)).json()
    assert [r["week_start"] for r in listing] == ["2025-03-03"]
    res = api.get(listing[0]["url"], headers=auth(sup))
    assert res.status_code == 200 and res.content.startswith(b"%PDF")
    assert api.get("/api/reports/weekly/9999.pdf", headers=auth(sup)).status_code == 404


def test_roles(api, data):
    member_a = user_token(api, "member", "ma", data["ma"])
    for path in (
        "/api/reports/kpis",
        "/api/reports/cases?kpi=received",
        "/api/reports/inspection.pdf",
        "/api/reports/inspection.xlsx",
        "/api/reports/weekly",
        "/api/reports/towns",
    ):
        assert api.get(path, headers=auth(member_a)).status_code == 403, path
        assert api.get(path).status_code == 401, path
    assert api.get(f"/api/members/{data['ma']}/record?year=2025", headers=auth(member_a)).status_code == 200
    assert api.get(f"/api/members/{data['mb']}/record?year=2025", headers=auth(member_a)).status_code == 403
    op = user_token(api, "operator", "op")
    assert api.get(f"/api/members/{data['mb']}/record?year=2025", headers=auth(op)).status_code == 200
    assert api.get("/api/members/99999/record", headers=auth(op)).status_code == 404


# --------------------------------------------------------------------------- the PDF's layout and appendix

ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "inspection-pdf"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _pages(pdf: Path) -> list[str]:
    n = int(
        re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout)[1]
    )
    return [
        subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True, text=True).stdout
        for i in range(1, n + 1)
    ]


@pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")
def test_pdf_appendix_holds_the_formulas_not_a_source_path(api, data, tmp_path):
    sup = user_token(api, "supervisor", "sup")
    res = api.get("/api/reports/inspection.pdf", params=PERIOD, headers=auth(sup))
    assert res.status_code == 200, res.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / "inspection.pdf"
    pdf.write_bytes(res.content)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / "inspection")], check=True)
    pages = _pages(pdf)
    text = "".join(pages)
    assert "docs/kpis.md" not in text and ".md" not in text
    assert "计算公式见文末附录" in _squash(pages[0])
    appendix = next(i for i, p in enumerate(pages) if "附录" in p and "Appendix" in p)
    tail = _squash("".join(pages[appendix:]))
    for f in formulas.FORMULAS:
        for words in (f.zh, f.en, f.numerator_zh, f.numerator_en, f.denominator_zh, f.denominator_en):
            assert _squash(words) in tail, words
    for t in formulas.SCOPE:
        for words in (t.zh, t.en, t.meaning_zh, t.meaning_en):
            assert _squash(words) in tail, words
    assert _squash("签收时限 H = 24 小时") in tail and _squash("Sign deadline H = 24 hours") in tail
    body = "".join(pages[:appendix])  # the overdue cases' statuses in words, not as identifiers
    assert not re.search(r"\b(new|offered|escalated|assigned|in_progress|reopened)\b", body)
    assert any(word in body for word in export.STATUS_ZH.values())


def test_every_kpi_computed_has_its_formula_and_the_doc_shows_the_same():
    keys = [f.key for f in formulas.FORMULAS]
    with Session(create_engine("sqlite://")) as s:
        names = set(kpis.definitions(s)) - {"received"}
    assert names | {"p90_h"} == set(keys) and len(keys) == len(set(keys))
    assert set(kpis.RATES) <= set(keys)
    doc = (Path(__file__).parents[2] / "docs" / "kpis.md").read_text()
    assert formulas.markdown_table() in doc, "docs/kpis.md: its formulas table is formulas.markdown_table()"


def _many_towns(data: dict, n: int) -> dict:
    """The report's data with ``n`` towns of long names in place of the real ones."""
    page, k = data["page"], data["kpis"]
    town, row = page["towns"][0], k["rows"][0]
    towns, rows = [], []
    for i in range(n):
        code = f"T{i:03d}"
        towns.append(
            {
                **town,
                "town_code": code,
                "town_name": f"盐都区第{i + 1}号高新技术产业园区管理委员会街道",
                "intake": i + 1,
            }
        )
        rows.append({**row, "key": code, "label": towns[-1]["town_name"]})
    return {**data, "page": {**page, "towns": towns}, "kpis": {**k, "rows": rows}}


def _words(pdf: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True
    ).stdout
    found = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', out)
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in found]


@pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")
def test_intake_heading_stays_with_its_chart_and_long_town_names_do_not_overlap(db, data, tmp_path):
    base = export.inspection(db, date(2025, 3, 3), date(2025, 3, 9))
    for n in range(1, 31):  # each town adds two table rows: the heading passes every height of a page's foot
        pdf = tmp_path / f"r{n}.pdf"
        pdf.write_bytes(export.pdf(_many_towns(base, n)))
        pages = _pages(pdf)
        [at] = [i for i, p in enumerate(pages) if "三、各镇街受理量" in p]
        assert export.CHART_CAPTION in pages[at], f"{n} towns: the heading on page {at + 1}, its chart on the next"
        # the chart's words (between its heading and the next one) never overlap: every town name on a line
        words = _words(pdf, at + 1)
        top = next(w[3] for w in words if w[4].startswith("三、"))
        bottom = next((w[1] for w in words if w[4].startswith("四、")), 1e9)
        chart = [w for w in words if top <= w[1] and w[3] <= bottom]
        labels = [w for w in chart if w[4].startswith("盐都区第")]
        assert len(labels) == n, (n, labels)
        for i, a in enumerate(chart):
            for b in chart[i + 1 :]:
                overlap = a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5
                assert not overlap, (n, a, b)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # to look at: 20 towns of long names
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(tmp_path / "r20.pdf"), str(ARTIFACTS / "towns20")], check=True)
