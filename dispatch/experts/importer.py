"""Experts from a spreadsheet (XLSX or CSV), all or nothing, with ``dispatch.sheetimport`` (as members are).

Every row's every problem is reported at once (cells that cannot be read, the model's refusals, the think tank's
rules); a row without any goes through ``experts.service.create`` in a savepoint. Nothing is written unless every
row is fine and this is not a dry run.
"""

from __future__ import annotations

import io
from typing import Any, cast

from pydantic import ValidationError
from sqlmodel import Session, col, select

from dispatch import sheetimport
from dispatch.errors import AppError
from dispatch.experts import service
from dispatch.experts.models import KIND_EN, KIND_ZH, KINDS, ExpertIn
from dispatch.regions.models import Region

MAX_ROWS = 2000  # experts per import (the think tank holds about 1,450)
LIMIT = sheetimport.Limit(MAX_ROWS, "名专家", "experts")

COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("姓名", "name", ("专家姓名", "名字")),
    "phone": ("电话", "phone", ("手机", "手机号", "手机号码", "联系电话", "mobile", "tel")),
    "organisation": ("单位", "organisation", ("工作单位", "所在单位", "organization", "org")),
    "title": ("职务职称", "title", ("职务", "职称", "职务/职称")),
    "kind": ("类别", "kind", ("专家类别", "人才类别", "group", "category")),
    "fields": ("擅长领域", "fields", ("领域", "专业领域", "专长", "field", "speciality", "specialty")),
    "town": ("镇街", "town", ("所在镇街", "镇/街道", "镇", "街道", "town_code")),
    "conflict_towns": ("回避地区", "conflict_regions", ("回避镇街", "回避", "conflict_towns", "conflicts")),
    "active": ("在库", "active", ("状态", "是否在库", "启用")),
}
REQUIRED = ("name", "fields")
SHEET = sheetimport.Columns(COLUMNS, REQUIRED)
FIELD_EN = {
    "name": "Name", "phone": "Phone", "organisation": "Organisation", "title": "Title", "kind": "Group",
    "fields": "Fields", "town": "Town", "conflict_towns": "Regions to stay away from", "active": "Active",
}  # fmt: skip
MULTILINE = ("fields", "conflict_towns")
_MODEL_FIELD = {"town_code": "town"}
# the group by its Chinese or English name, or the code
KIND_NAMES = {
    **{k: k for k in KINDS},
    **{v: k for k, v in KIND_ZH.items()},
    **{v.lower(): k for k, v in KIND_EN.items()},
    "政策": "policy", "政策类": "policy", "部门": "department", "部门骨干": "department", "业务骨干": "department",
    "法律": "law", "法律类": "law", "律师": "law", "行业": "trade", "行业资深人士": "trade", "行业专家": "trade",
    "乡贤能人": "notable", "能人": "notable", "新乡贤": "notable",
}  # fmt: skip


def _region(regions: sheetimport.Regions, value: str) -> list[Region]:
    """A town, else a village, by code or name."""
    return regions.town(value) or regions.village(value, None)


def _model_errors(body: dict, skip: set[str], row: int, result: sheetimport.Result) -> set[str]:
    try:
        ExpertIn(**body)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return set()
    bad: set[str] = set()
    for err in errors:
        # a field's error: ExpertIn has no model-level validator (whose errors have an empty loc)
        loc = cast(str, str(err["loc"][0]) if err.get("loc") else None)
        fld = _MODEL_FIELD.get(loc, loc)
        if fld in skip or fld in bad:
            continue
        bad.add(fld)
        zh, en = SHEET.zh.get(fld, fld), FIELD_EN.get(fld, fld)
        kind = err.get("type", "")
        if fld == "name" and kind in ("missing", "string_too_short"):
            result.error(row, fld, "name_required", "姓名不能为空", "Name is required")
        elif kind == "string_too_long":
            n = (err.get("ctx") or {}).get("max_length")
            result.error(row, fld, "value_too_long", f"{zh}过长（最多 {n} 个字符）", f"{en} is too long (at most {n})")
        elif kind == "too_long":
            n = (err.get("ctx") or {}).get("max_length")
            result.error(
                row, fld, "too_many_values", f"{zh}过多（最多 {n} 项）", f"Too many {en.lower()} (at most {n})"
            )
        else:
            result.error(row, fld, "invalid_value", f"{zh}无效", f"{en}: {err.get('msg', 'invalid')}")
    return bad


def _row_fn(session: Session) -> sheetimport.RowFn:
    regions = sheetimport.Regions(session)
    phones: dict[str, int] = {}  # phone → the row that had it first

    def one(session: Session, values: dict[str, str], row: int, result: sheetimport.Result) -> None:
        before = len(result.errors)
        bad = sheetimport.check_characters(values, row, result, SHEET, MULTILINE)
        body: dict[str, Any] = {"name": values.get("name", "")}
        for key in ("phone", "organisation", "title"):
            if values.get(key) and key not in bad:
                body[key] = values[key]
        kind = values.get("kind", "")
        if kind and "kind" not in bad:
            body["kind"] = KIND_NAMES.get(kind.strip().lower()) or KIND_NAMES.get(kind.strip())
            if body["kind"] is None:
                result.error(
                    row,
                    "kind",
                    "invalid_kind",
                    f"类别无效：{kind}（政策专家/部门业务骨干/法律人士/行业人士/乡贤）",
                    f"Invalid group: {kind} (policy, department, law, trade, notable)",
                )
                bad.add("kind")
                del body["kind"]
        fields = sheetimport.split_list(values.get("fields", "")) if "fields" not in bad else []
        body["fields"] = fields
        if not fields and "fields" not in bad:
            result.error(row, "fields", "fields_required", "擅长领域不能为空", "At least one field is required")
            bad.add("fields")
        elif any(len(f) > 64 for f in fields):
            result.error(
                row,
                "fields",
                "value_too_long",
                "领域名称过长（最多 64 个字符）",
                "A field name is too long (at most 64)",
            )
            bad.add("fields")
        town = values.get("town", "")
        if town and "town" not in bad:
            found = regions.town(town)
            if len(found) == 1:
                body["town_code"] = found[0].code
            else:
                result.error(row, "town", "unknown_town", f"未知的镇街：{town}", f"Unknown town: {town}")
                bad.add("town")
        conflicts = []
        for name in sheetimport.split_list(values.get("conflict_towns", "")) if "conflict_towns" not in bad else []:
            found = _region(regions, name)
            if len(found) == 1:
                conflicts.append(found[0].code)
            else:
                zh = "回避地区重名，请填写代码" if found else "未知的回避地区"
                en = "Ambiguous region to stay away from; use its code" if found else "Unknown region to stay away from"
                result.error(row, "conflict_towns", "unknown_region", f"{zh}：{name}", f"{en}: {name}")
                bad.add("conflict_towns")
        body["conflict_towns"] = conflicts
        if values.get("active") and "active" not in bad:
            active = sheetimport.as_bool(values["active"])
            if active is None:
                v = values["active"]
                result.error(row, "active", "invalid_active", f"在库须为是/否：{v}", f"Active must be yes/no: {v}")
                bad.add("active")
            else:
                body["active"] = active
        bad |= _model_errors(body, bad, row, result)
        phone = (body.get("phone") or "").strip()
        if phone and "phone" not in bad:
            if phone in phones:
                first = phones[phone]
                result.error(
                    row, "phone", "duplicate_phone", f"电话与第 {first} 行重复", f"Same phone number as row {first}"
                )
            else:
                phones[phone] = row
        if len(result.errors) > before:
            return
        try:
            with session.begin_nested():
                service.create(session, ExpertIn(**body))
        except AppError as exc:
            fld = exc.details.get("field")
            result.app_error(row, _MODEL_FIELD.get(fld, fld) if fld is not None else None, exc)
            return
        result.created += 1

    return one


def run(session: Session, data: bytes, filename: str = "", *, dry_run: bool = False) -> sheetimport.Result:
    """Import; committed only on success without ``dry_run``, else rolled back."""
    return sheetimport.run(session, data, filename, SHEET, LIMIT, _row_fn(session), dry_run=dry_run)


def template(session: Session) -> bytes:
    """An XLSX to fill in: the header row, a sample row, drop-downs, instructions and the towns."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    from dispatch import spreadsheets

    wb = Workbook()
    ws = wb.active
    ws.title = "专家 Experts"
    keys = list(COLUMNS)
    spreadsheets.append(ws, [COLUMNS[k][0] for k in keys])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DCE6F1")
    for i, key in enumerate(keys, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = bold, fill
        ws.column_dimensions[cell.column_letter].width = 26 if key in ("fields", "organisation") else 14
    ws.freeze_panes = "A2"
    letter = {k: ws.cell(row=1, column=i + 1).column_letter for i, k in enumerate(keys)}
    kinds = ",".join(KIND_ZH[k] for k in KINDS)
    for key, options in (("kind", kinds), ("active", "是,否")):
        dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
        ws.add_data_validation(dv)
        dv.add(f"{letter[key]}2:{letter[key]}{MAX_ROWS + 1}")
    for r in range(2, 502):
        ws[f"{letter['phone']}{r}"].number_format = "@"

    notes = wb.create_sheet("说明 Instructions")
    spreadsheets.append(notes, ["列 Column", "英文列名 English header", "必填 Required", "说明 Notes", "示例 Example"])
    explain = {
        "name": ("专家姓名 / Expert's name", "王建华"),
        "phone": ("手机号码 / Mobile number", "13800001234"),
        "organisation": ("工作单位 / Organisation", "盐城市规划设计研究院"),
        "title": ("职务或职称 / Title or position", "高级工程师"),
        "kind": ("政策专家、部门业务骨干、法律人士、行业人士、乡贤（默认 政策专家）/ Group", "行业人士"),
        "fields": ("抽取专家按领域进行，用 、 , ; | 分隔 / Fields the expert is drawn for", "城乡建设、交通运输"),
        "town": ("所在镇街名称或代码（乡贤必填为宜）/ Town name or code", "潘黄街道"),
        "conflict_towns": ("须回避的镇街或村社区（利益相关），多个用 、 分隔 / Regions to stay away from", "龙冈镇"),
        "active": ("是 / 否（默认 是）/ yes or no (default yes)", "是"),
    }
    for key in keys:
        zh, en, _ = COLUMNS[key]
        spreadsheets.append(notes, [zh, en, "是 Yes" if key in REQUIRED else "", *explain[key]])
    spreadsheets.append(notes, [])
    spreadsheets.append(
        notes,
        ["全部导入或全部不导入：任何一行有错，都不会添加专家。/ All or nothing: one bad row and none is added."],
    )
    for c in notes[1]:
        c.font = bold
    for col_letter, width in zip("ABCDE", (12, 20, 12, 70, 24), strict=True):
        notes.column_dimensions[col_letter].width = width
    for row in notes.iter_rows(min_row=2):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")

    towns = wb.create_sheet("镇街 Towns")
    spreadsheets.append(towns, ["镇街代码 Town code", "镇街 Town"])
    for c in towns[1]:
        c.font = bold
    for region in session.exec(select(Region).where(Region.level == "town").order_by(col(Region.code))).all():
        spreadsheets.append(towns, [region.code, region.name])
    towns.column_dimensions["A"].width, towns.column_dimensions["B"].width = 20, 22

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
