"""Inspection report exports: the PDF (A4, Chinese text findable by pdftotext), the XLSX (same totals as the page
and /api/reports/kpis), the weekly job (one report per week however often it runs) and role checks."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from helpers import auth, user_token
from openpyxl import load_workbook
from sqlmodel import select
from test_kpis import PERIOD, build

from dispatch.regions.models import Region
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
