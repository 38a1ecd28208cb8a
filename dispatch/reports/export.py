"""The inspection report (督查报告) for a period and town: one data set, rendered as an A4 PDF (Chinese text in
the embedded CJK font of qr.posters) and as an XLSX workbook (openpyxl; every value through ``dispatch.spreadsheets``,
so names are text, never formulas). Both carry the same figures as the /inspect page (``service.towns``) and
/api/reports/kpis."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from sqlmodel import Session

from dispatch.consultations.service import coverage
from dispatch.db import utcnow
from dispatch.localtime import SHANGHAI
from dispatch.regions.models import Region
from dispatch.reports import formulas, kpis, service

RATE_LABELS = {
    "response_rate": "响应率",
    "on_time_signing": "按时签收率",
    "resolution_rate": "办结率",
    "on_time_closure": "按期办结率",
    "satisfaction": "满意率",
    "reopen_rate": "重办率",
}


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _ranking(rows: list[dict]) -> list[dict]:
    """Members or departments: most resolved first, then the better on-time closure."""
    rows = [r for r in rows if r["key"] is not None]
    return sorted(
        rows,
        key=lambda r: (-r["resolution_rate"]["num"], -(r["on_time_closure"]["rate"] or 0), str(r["label"])),
    )


def inspection(session: Session, start: date, end: date, town_code: str | None = None) -> dict[str, Any]:

    filters = {"town_code": town_code}
    where = kpis.scope(start, end, filters)
    # every figure of the report in one pass (the page, the KPI details and the rankings share them); no weekly
    # trend: neither the PDF nor the XLSX draws one
    figures = kpis.aggregate_many(session, where, ("none", "town", "member", "department"))
    coverage_rows = coverage(session, end.year)["towns"]
    town_name = None
    if town_code:
        region = session.get(Region, town_code)
        town_name = region.name if region else town_code
        coverage_rows = [r for r in coverage_rows if r["town_code"] == town_code]
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "town_code": town_code,
        "town_name": town_name,
        "generated_at": utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "page": service.towns(session, start, end, town_code, figures=figures),
        "kpis": kpis.kpis(session, start, end, by="town", trend="none", filters=filters, figures=figures),
        "members": _ranking(figures["member"]),
        "departments": _ranking(figures["department"]),
        "coverage_year": end.year,
        "coverage": coverage_rows,
        "consultations": kpis.consultation_rates(session, start, end, town_code),
    }


def _town_label(r: dict) -> str:
    return r["town_name"] if r["town_code"] else "（未定位）"


# ---- PDF --------------------------------------------------------------------------------------------------


CHART_CAPTION = "图：各镇街受理量（件）"
STATUS_ZH = {
    "new": "已受理",
    "offered": "派单中",
    "escalated": "调度中",
    "assigned": "已签收",
    "in_progress": "办理中",
    "reopened": "已重办",
}


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut to ``width`` points, with an ellipsis when cut (the full names are in the tables above)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _bar_chart(rows: list[dict], font: str, width: float):
    """Intake per town as horizontal bars (one line per town: long names never run into each other), drawn with
    reportlab shapes."""
    from reportlab.graphics.shapes import Drawing, Line, Rect, String

    if not rows:
        d = Drawing(width, 30)
        d.add(String(0, 10, "该时段内没有受理工单", fontName=font, fontSize=10))
        return d
    line, size = 16.0, 8.0
    label_w, value_w = 150.0, 36.0
    top = max(r["intake"] for r in rows) or 1
    height = line * len(rows) + 22
    d = Drawing(width, height)
    d.add(String(0, height - 10, CHART_CAPTION, fontName=font, fontSize=size))
    x0 = label_w + 6
    bar_w = width - x0 - value_w
    d.add(Line(x0, 0, x0, height - 18, strokeWidth=0.5))
    for i, r in enumerate(rows):
        y = height - 18 - (i + 1) * line
        d.add(String(label_w, y + 4, _fit(_town_label(r), font, size, label_w), fontName=font, fontSize=size,
                     textAnchor="end"))  # fmt: skip
        w = bar_w * r["intake"] / top
        d.add(Rect(x0, y + 2, w, line - 5, fillColor=_color(0.70, 0.15, 0.12), strokeWidth=0))
        d.add(String(x0 + w + 3, y + 4, str(r["intake"]), fontName=font, fontSize=size))
    return d


def _color(r: float, g: float, b: float):
    from reportlab.lib.colors import Color

    return Color(r, g, b)


def pdf(data: dict[str, Any]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from qr.posters import register_font

    font = register_font()
    title_style = ParagraphStyle("t", fontName=font, fontSize=18, leading=24, alignment=1, wordWrap="CJK")
    # a heading stays on the page of what follows it (never alone at a page's foot)
    h2 = ParagraphStyle(
        "h2", fontName=font, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4, wordWrap="CJK", keepWithNext=1
    )
    h3 = ParagraphStyle("h3", parent=h2, fontSize=10.5, leading=15, spaceBefore=6, spaceAfter=2)
    body = ParagraphStyle("b", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    cell_zh = ParagraphStyle("cz", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
    cell_en = ParagraphStyle("ce", fontName=font, fontSize=7, leading=9.5, textColor=colors.Color(0.3, 0.3, 0.3))

    def table(rows: list[list[Any]], widths: list[float], wrap: tuple[int, ...] = (0,)) -> Table:
        """A grid as wide as ``widths`` (at most the frame); the ``wrap`` columns' cells wrap (long names)."""
        from xml.sax.saxutils import escape

        cells = [[Paragraph(escape(str(c)), cell_zh) if j in wrap else str(c) for j, c in enumerate(r)] for r in rows]
        t = Table(cells, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), font),
                    ("FONTSIZE", (0, 0), (-1, -1), 8),
                    ("LEADING", (0, 0), (-1, -1), 10),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        return t

    page, k = data["page"], data["kpis"]
    scope_name = data["town_name"] or "全部镇街"
    story: list[Any] = [
        Paragraph("督查报告", title_style),
        Spacer(1, 4),
        Paragraph(f"统计期间：{data['from']} 至 {data['to']} · {scope_name}", body),
        Paragraph(f"生成时间：{data['generated_at']}（北京时间）。各项指标的计算公式见文末附录。", body),
        Paragraph("一、分镇街统计", h2),
    ]
    head = ["镇街", "受理量", "办结量", "办结率", "按期办结率", "满意率", "超期未办"]
    rows: list[list[Any]] = [head]
    for r in [*page["towns"], {"town_code": "total", "town_name": "合计", **page["total"]}]:
        rows.append(
            [
                _town_label(r),
                r["intake"],
                r["resolved"],
                _pct(r["resolution_rate"]),
                _pct(r["on_time_rate"]),
                _pct(r["satisfaction_rate"]),
                r["overdue"],
            ]
        )
    story.append(table(rows, [130, 58, 58, 58, 58, 58, 58]))
    story.append(Paragraph("二、指标明细（分子 / 分母）", h2))
    head = ["镇街", *RATE_LABELS.values(), "平均办理\n时长(时)", "P90\n(时)"]
    rows = [head]
    names = {r["town_code"]: _town_label(r) for r in page["towns"]}
    for r in [*k["rows"], {"key": "total", "label": "合计", **k["total"]}]:
        label = "合计" if r["key"] == "total" else names.get(r["key"], r["label"] or "（未定位）")
        rows.append(
            [
                label,
                *(f"{_pct(r[n]['rate'])}\n({r[n]['num']}/{r[n]['den']})" for n in RATE_LABELS),
                "—" if r["handling_time"]["mean_h"] is None else r["handling_time"]["mean_h"],
                "—" if r["handling_time"]["p90_h"] is None else r["handling_time"]["p90_h"],
            ]
        )
    story.append(table(rows, [96, 50, 50, 50, 50, 50, 50, 45, 40]))
    # the heading and its chart on one page (the chart is one drawing: it cannot split)
    story.append(KeepTogether([Paragraph("三、各镇街受理量", h2), _bar_chart(page["towns"], font, A4[0] - 4 * cm)]))
    story.append(Paragraph("四、超期工单", h2))
    if page["overdue"]:
        rows = [["工单编号", "状态", "镇街", "分类", "承办委员", "办理时限", "超期（小时）"]]
        for c in page["overdue"]:
            rows.append(
                [
                    c["tracking_no"],
                    STATUS_ZH.get(c["status"], "未办结"),
                    names.get(c["town_code"], c["town_code"] or "（未定位）"),
                    c["category"] or "—",
                    c["assignee_id"] or "未分派",
                    c["due_at"][:16].replace("T", " "),
                    c["hours_over"],
                ]
            )
        story.append(table(rows, [72, 44, 100, 84, 50, 80, 50], wrap=(2, 3)))
    else:
        story.append(Paragraph("当前没有超期工单。", body))
    for title, key in (("五、委员排名", "members"), ("六、部门排名", "departments")):
        story.append(Paragraph(title, h2))
        if data[key]:
            rows = [["名次", "名称", "承办量", "办结量", "按期办结率", "满意率"]]
            for i, r in enumerate(data[key], 1):
                rows.append(
                    [
                        i,
                        r["label"],
                        r["received"],
                        r["resolution_rate"]["num"],
                        _pct(r["on_time_closure"]["rate"]),
                        _pct(r["satisfaction"]["rate"]),
                    ]
                )
            story.append(table(rows, [34, 170, 60, 60, 80, 60], wrap=(1,)))
        else:
            story.append(Paragraph("该时段内没有记录。", body))
    story.append(Paragraph(f"七、协商覆盖（{data['coverage_year']} 年）", h2))
    c = data["consultations"]
    story.append(
        Paragraph(
            f"本期召开协商会议 {c['meetings_held']} 次；委员参与率 {_pct(c['participation']['rate'])}"
            f"（{c['participation']['num']}/{c['participation']['den']}）；"
            f"议题成果率 {_pct(c['success']['rate'])}（{c['success']['num']}/{c['success']['den']}）。",
            body,
        )
    )
    if data["coverage"]:
        rows = [["镇街", "点位", "示范点", "已开展协商", "示范点目标", "达标"]]
        for r in data["coverage"]:
            met = "—" if r["met"] is None else ("达标" if r["met"] else "未达标")
            rows.append(
                [r["name"] or r["town_code"], r["points"], r["demonstration_points"], r["held"], r["target"], met]
            )
        story.append(table(rows, [130, 50, 50, 70, 70, 60]))
    story += _appendix(font, h2, h3, body, cell_zh, cell_en, A4[0] - 4 * cm)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
        title=f"督查报告 {data['from']} 至 {data['to']}",
        author="Shangliang 商量",
    )

    def footer(canvas, doc_) -> None:
        canvas.setFont(font, 8)
        canvas.drawCentredString(A4[0] / 2, 1 * cm, f"督查报告 · {data['from']} 至 {data['to']} · 第 {doc_.page} 页")

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def _appendix(font: str, h2, h3, body, cell_zh, cell_en, width: float) -> list[Any]:
    """附录: the formulas of every figure, in Chinese and English, from ``reports.formulas``."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    def cell(zh: str, en: str) -> list[Any]:
        return [Paragraph(escape(zh), cell_zh), Paragraph(escape(en), cell_en)]

    out: list[Any] = [
        Paragraph("附录　指标计算公式 / Appendix: KPI formulas", h2),
        Paragraph("统计哪些工单 / Which cases", h3),
    ]
    rows = [cell(t.zh, t.en) + cell(t.meaning_zh, t.meaning_en) for t in formulas.SCOPE]
    terms = Table([[r[:2], r[2:]] for r in rows], colWidths=[width * 0.2, width * 0.8])
    out.append(terms)
    out.append(Paragraph("公式 / Formulas", h3))
    rows = [[cell("指标", "KPI"), cell("分子", "Numerator"), cell("分母", "Denominator")]]
    rows += [
        [cell(f.zh, f.en), cell(f.numerator_zh, f.numerator_en), cell(f.denominator_zh, f.denominator_en)]
        for f in formulas.FORMULAS
    ]
    t = Table(rows, colWidths=[width * 0.2, width * 0.4, width * 0.4], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    t.setStyle(TableStyle(style))
    terms.setStyle(TableStyle(style[:1] + style[2:]))
    out += [t, Spacer(1, 6)]
    for zh, en in formulas.notes(kpis.sign_deadline_h()):
        out += [Paragraph(escape(zh), body), Paragraph(escape(en), cell_en)]
    return out


# ---- XLSX -------------------------------------------------------------------------------------------------


def xlsx(data: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from dispatch import spreadsheets  # late, like openpyxl: not loaded until a workbook is written

    wb = Workbook()
    page, k = data["page"], data["kpis"]
    names = {r["town_code"]: _town_label(r) for r in page["towns"]}

    ws = wb.active
    ws.title = "各镇街KPI"
    spreadsheets.append(ws, [f"督查报告 {data['from']} 至 {data['to']}", data["town_name"] or "全部镇街"])
    head = [
        "镇街代码",
        "镇街",
        "受理量",
        "办结量",
        "按期办结量",
        "已评价",
        "满意量",
        "超期未办",
        "办结率",
        "按期办结率",
        "满意率",
    ]
    for label in RATE_LABELS.values():
        head += [f"{label}分子", f"{label}分母", label]
    head += ["平均办理时长(时)", "P90办理时长(时)"]
    spreadsheets.append(ws, head)
    by_town = {r["key"]: r for r in k["rows"]}
    for r in [*page["towns"], {"town_code": "合计", "town_name": "合计", **page["total"]}]:
        kr = k["total"] if r["town_code"] == "合计" else by_town.get(r["town_code"])
        line = [
            r["town_code"],
            _town_label(r) if r["town_code"] != "合计" else "合计",
            r["intake"],
            r["resolved"],
            r["on_time"],
            r["rated"],
            r["satisfied"],
            r["overdue"],
            r["resolution_rate"],
            r["on_time_rate"],
            r["satisfaction_rate"],
        ]
        for name in RATE_LABELS:
            line += [kr[name]["num"], kr[name]["den"], kr[name]["rate"]] if kr else [0, 0, None]
        line += [kr["handling_time"]["mean_h"], kr["handling_time"]["p90_h"]] if kr else [None, None]
        spreadsheets.append(ws, line)
    ws.cell(row=ws.max_row, column=2).font = Font(bold=True)

    ws = wb.create_sheet("超期工单")
    spreadsheets.append(ws, ["工单编号", "状态", "镇街", "分类", "承办委员", "办理时限", "超期（小时）", "案件ID"])
    for c in page["overdue"]:
        spreadsheets.append(
            ws,
            [
                c["tracking_no"],
                c["status"],
                names.get(c["town_code"], c["town_code"]),
                c["category"],
                c["assignee_id"],
                c["due_at"],
                c["hours_over"],
                c["id"],
            ],
        )

    for title, key in (("委员排名", "members"), ("部门排名", "departments")):
        ws = wb.create_sheet(title)
        spreadsheets.append(ws, ["名次", "ID", "名称", "承办量", "办结量", "按期办结率", "满意率", "平均办理时长(时)"])
        for i, r in enumerate(data[key], 1):
            spreadsheets.append(
                ws,
                [
                    i,
                    r["key"],
                    r["label"],
                    r["received"],
                    r["resolution_rate"]["num"],
                    r["on_time_closure"]["rate"],
                    r["satisfaction"]["rate"],
                    r["handling_time"]["mean_h"],
                ],
            )

    ws = wb.create_sheet("协商覆盖")
    spreadsheets.append(ws, ["镇街代码", "镇街", "点位", "示范点", "已开展协商", "示范点目标", "达标"])
    for r in data["coverage"]:
        spreadsheets.append(
            ws, [r["town_code"], r["name"], r["points"], r["demonstration_points"], r["held"], r["target"], r["met"]]
        )
    c = data["consultations"]
    spreadsheets.append(ws, [])
    spreadsheets.append(ws, ["本期协商会议", c["meetings_held"]])
    spreadsheets.append(
        ws, ["委员参与率", c["participation"]["rate"], c["participation"]["num"], c["participation"]["den"]]
    )
    spreadsheets.append(ws, ["议题成果率", c["success"]["rate"], c["success"]["num"], c["success"]["den"]])

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
