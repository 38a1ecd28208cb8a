"""Members from a spreadsheet (XLSX or CSV in UTF-8, UTF-8 with BOM, or GBK), all or nothing.

Columns are found by their Chinese or English header. Every row goes through ``members.service.create`` (the
same rules as ``POST /api/members``) inside one transaction, each row in a savepoint; the transaction commits
only when no row has an error and this is not a dry run. Row numbers are the spreadsheet's own (header = 1).
"""

from __future__ import annotations

import io
import re
from typing import Any, cast

from pydantic import ValidationError
from sqlmodel import Session, select

from dispatch import sheetimport
from dispatch.cases.service import validate_category
from dispatch.errors import AppError
from dispatch.members import service
from dispatch.members.models import MemberIn
from dispatch.regions.models import Region
from dispatch.regions.service import validate_location
from dispatch.sheetimport import MAX_UNZIPPED_BYTES, FileError, FileTooLarge, Regions, Result
from dispatch.validation import PHONE_RULE_EN, PHONE_RULE_ZH

MAX_ROWS = 5000  # members per import
# canonical field → (Chinese header, English header, other accepted spellings)
COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("姓名", "name", ("委员姓名", "名字")),
    "phone": ("电话", "phone", ("手机", "手机号", "手机号码", "联系电话", "电话号码", "mobile", "tel")),
    "level": ("层级", "level", ("级别", "委员层级")),
    "sector": ("界别", "sector", ()),
    "town": ("镇街", "town", ("镇/街道", "镇街道", "镇（街道）", "所属镇街", "镇", "街道", "town_code")),
    "village": ("村社区", "village", ("村/社区", "村（社区）", "村居", "村", "社区", "village_code")),
    "categories": ("擅长类别", "categories", ("类别", "擅长领域", "category")),
    "capacity": ("容量", "capacity", ("最大承接量", "承接上限")),
    "on_duty": ("在岗", "on_duty", ("是否在岗", "在岗状态", "onduty", "on duty")),
    "lat": ("纬度", "lat", ("latitude",)),
    "lon": ("经度", "lon", ("lng", "longitude")),
    "coord_system": ("坐标系", "coord_system", ("坐标系统", "coordsystem", "crs")),
}
REQUIRED = ("name", "level")
SHEET = sheetimport.Columns(COLUMNS, REQUIRED)
LIMIT = sheetimport.Limit(MAX_ROWS, "名委员", "members")
FIELD_ZH = SHEET.zh
header_field = SHEET.field
__all__ = ["MAX_UNZIPPED_BYTES", "FileError", "FileTooLarge", "Regions", "Result", "header_field", "read_table"]

LEVELS = {
    "区": "district", "区级": "district", "区政协": "district", "district": "district",
    "镇": "town", "镇级": "town", "镇街": "town", "街道": "town", "镇/街道": "town", "town": "town",
    "村": "village", "村级": "village", "社区": "village", "村/社区": "village", "村社区": "village",
    "village": "village",
}  # fmt: skip
TRUE = {"是", "在岗", "y", "yes", "true", "1", "√", "t"}
FALSE = {"否", "不在岗", "离岗", "n", "no", "false", "0", "×", "f"}
COORDS = {
    "wgs84": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "bd09": "bd09",
    "百度": "bd09",
}


def read_table(data: bytes, filename: str = "") -> list[list[str]]:
    """The file's rows within the member import's bounds (``sheetimport.read_table``)."""
    return sheetimport.read_table(data, filename, LIMIT)


# --------------------------------------------------------------------------- rows → members


MULTILINE = ("categories",)  # a line break separates categories; every other cell is one line
FIELD_EN = {
    "name": "Name", "phone": "Phone", "level": "Level", "sector": "Sector", "town": "Town", "village": "Village",
    "categories": "Categories", "capacity": "Capacity", "on_duty": "On duty", "lat": "Latitude",
    "lon": "Longitude", "coord_system": "Coordinate system",
}  # fmt: skip
_MODEL_FIELD = {"town_code": "town", "village_code": "village"}


def _bounds(name: str) -> tuple[Any, Any]:
    """The ``ge``/``le`` bounds of a ``MemberIn`` field (one source: the model the API validates with)."""
    lo = hi = None
    for m in MemberIn.model_fields[name].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def _model_errors(body: dict, skip: set[str], row: int, result: Result) -> set[str]:
    """Every refusal of ``MemberIn`` (the API's own model) for the row, except in fields reported already."""
    try:
        MemberIn(**body)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        return set()
    bad: set[str] = set()
    for err in errors:
        # a field's error: MemberIn has no model-level validator (whose errors have an empty loc)
        loc = cast(str, str(err["loc"][0]) if err.get("loc") else None)
        fld = _MODEL_FIELD.get(loc, loc)
        if fld in skip or fld in bad:
            continue
        bad.add(fld)
        zh, en = FIELD_ZH.get(fld, fld), FIELD_EN.get(fld, fld)
        kind, value = err.get("type", ""), err.get("input")
        if fld == "name" and kind in ("missing", "string_too_short"):
            result.error(row, fld, "name_required", "姓名不能为空", "Name is required")
        elif kind == "invalid_phone":
            v = body.get("phone", "")
            result.error(
                row,
                fld,
                "invalid_phone",
                f"电话号码无效：{v}（{PHONE_RULE_ZH}）",
                f"Invalid phone number: {v} ({PHONE_RULE_EN})",
            )
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            lo, hi = _bounds(loc) if loc in MemberIn.model_fields else (None, None)
            result.error(
                row, fld, "value_out_of_range", f"{zh}超出范围（{lo} 至 {hi}）：{value}",
                f"{en} out of range ({lo} to {hi}): {value}",
            )  # fmt: skip
        elif kind == "string_too_long":
            n = (err.get("ctx") or {}).get("max_length")
            result.error(row, fld, "value_too_long", f"{zh}过长（最多 {n} 个字符）", f"{en} is too long (at most {n})")
        else:
            result.error(row, fld, "invalid_value", f"{zh}无效", f"{en}: {err.get('msg', 'invalid')}")
    return bad


def _rule_errors(body: dict, skip: set[str], row: int, result: Result) -> None:
    """The rules ``members.service.create`` applies, each checked on its own so that a row's every problem is
    reported at once: categories (every unknown one), a town for town and village members, the location."""
    categories = [] if "categories" in skip else body.get("categories") or []
    for category in categories:
        try:
            validate_category(category)
        except AppError as exc:
            result.error(row, "categories", exc.code, exc.zh, exc.en)
    if body.get("level") in ("town", "village") and not body.get("town_code") and not {"town", "village"} & skip:
        result.error(
            row, "town", "town_required", "镇级、村级委员须指定所属镇街", "Town- and village-level members need a town"
        )
    lat, lon = body.get("lat"), body.get("lon")
    if (lat is not None or lon is not None) and not {"lat", "lon", "coord_system"} & skip:
        try:
            validate_location(lat, lon, body.get("coord_system", "wgs84"))
        except AppError as exc:
            fld = "lon" if exc.code == "incomplete_location" and lon is None else "lat"
            result.error(row, fld, exc.code, exc.zh, exc.en)


def _row_to_body(values: dict[str, str], row: int, regions: Regions, result: Result) -> dict | None:
    """Parse one row's cells into ``MemberIn`` fields; record every problem found (cells that cannot be read,
    the model's refusals, the service's rules); None when any."""
    before = len(result.errors)
    bad = sheetimport.check_characters(values, row, result, SHEET, MULTILINE)

    def fail(fld: str, code: str, zh: str, en: str) -> None:
        result.error(row, fld, code, zh, en)
        bad.add(fld)

    body: dict[str, Any] = {"name": values.get("name", "")}
    if values.get("phone") and "phone" not in bad:
        body["phone"] = values["phone"]
    if values.get("sector"):
        body["sector"] = values["sector"]

    level = values.get("level", "")
    body["level"] = LEVELS.get(level.strip().lower())
    if body["level"] is None:
        if level:
            fail(
                "level",
                "invalid_level",
                f"层级无效：{level}（区/镇/村）",
                f"Invalid level: {level} (district/town/village)",
            )
        else:
            fail("level", "level_required", "层级不能为空（区/镇/村）", "Level is required (district/town/village)")
        del body["level"]

    town_code = None
    if values.get("town") and "town" not in bad:
        towns = regions.town(values["town"])
        if len(towns) == 1:
            town_code = body["town_code"] = towns[0].code
        else:
            fail("town", "unknown_town", f"未知的镇街：{values['town']}", f"Unknown town: {values['town']}")
    if values.get("village") and "village" not in bad:
        villages = regions.village(values["village"], town_code)
        v = values["village"]
        if len(villages) == 1:
            body["village_code"] = villages[0].code
            body.setdefault("town_code", villages[0].parent_code)
        elif len(villages) > 1:
            fail(
                "village", "ambiguous_village", f"村社区重名，请填写镇街：{v}", f"Ambiguous village, give its town: {v}"
            )
        elif "town" in bad:  # an unknown town: the village cannot be looked for in it
            bad.add("village")
        else:
            fail("village", "unknown_village", f"未知的村社区：{v}", f"Unknown village: {v}")

    if values.get("categories") and "categories" not in bad:
        body["categories"] = sheetimport.split_list(values["categories"])
    if values.get("capacity") and "capacity" not in bad:
        n = sheetimport.as_number(values["capacity"])
        c = values["capacity"]
        if n is None or not n.is_integer():
            fail("capacity", "invalid_capacity", f"容量须为整数：{c}", f"Capacity must be a whole number: {c}")
        else:
            body["capacity"] = int(n)
    if values.get("on_duty") and "on_duty" not in bad:
        duty = sheetimport.as_bool(values["on_duty"], TRUE, FALSE)
        if duty is None:
            d = values["on_duty"]
            fail("on_duty", "invalid_on_duty", f"在岗须为是/否：{d}", f"On duty must be yes/no: {d}")
        else:
            body["on_duty"] = duty
    for key in ("lat", "lon"):
        if values.get(key) and key not in bad:
            n = sheetimport.as_number(values[key])
            if n is None:
                v = values[key]
                fail(key, "invalid_number", f"{FIELD_ZH[key]}须为数字：{v}", f"{FIELD_EN[key]} must be a number: {v}")
            else:
                body[key] = n
    if values.get("coord_system") and "coord_system" not in bad:
        cs = COORDS.get(re.sub(r"[\s_-]", "", values["coord_system"].lower()))
        if cs is None:
            v = values["coord_system"]
            fail("coord_system", "invalid_coord_system", f"坐标系无效：{v}", f"Invalid coordinate system: {v}")
        else:
            body["coord_system"] = cs

    bad |= _model_errors(body, bad, row, result)
    _rule_errors(body, bad, row, result)
    return body if len(result.errors) == before else None


def _create(session: Session, body: dict, row: int, result: Result) -> None:
    """Create the member of a row ``_row_to_body`` passed, through ``members.service.create`` in a savepoint."""
    try:
        member_in = MemberIn(**body)
    except ValidationError:  # _row_to_body reported it
        _model_errors(body, set(), row, result)
        return
    try:
        with session.begin_nested():
            service.create(session, member_in)
    except AppError as exc:
        fld = exc.details.get("field")
        fld = (_MODEL_FIELD.get(fld, fld) if fld is not None else None) or {
            "town_required": "town",
            "unknown_category": "categories",
            "point_not_found": None,
        }.get(exc.code, "lat" if "location" in exc.code else None)
        result.error(row, fld, exc.code, exc.zh, exc.en)
        return
    result.created += 1


def run(session: Session, data: bytes, filename: str = "", *, dry_run: bool = False) -> Result:
    """Import; the caller's session is committed only on success without ``dry_run``, else rolled back."""
    regions = Regions(session)

    def one(session: Session, values: dict[str, str], row: int, result: Result) -> None:
        body = _row_to_body(values, row, regions, result)
        if body is not None:
            _create(session, body, row, result)

    return sheetimport.run(session, data, filename, SHEET, LIMIT, one, dry_run=dry_run)


# --------------------------------------------------------------------------- the template


def template(session: Session) -> bytes:
    """An XLSX to fill in: the header row, drop-downs, an instructions sheet and the towns and villages."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    from dispatch import spreadsheets  # late, like openpyxl: not loaded until a workbook is written

    wb = Workbook()
    ws = wb.active
    ws.title = "委员 Members"
    keys = list(COLUMNS)
    spreadsheets.append(ws, [COLUMNS[k][0] for k in keys])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="F2DCDB")
    for i, key in enumerate(keys, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = bold, fill
        ws.column_dimensions[cell.column_letter].width = 24 if key in ("categories", "village") else 14
    ws.freeze_panes = "A2"
    col = {k: ws.cell(row=1, column=i + 1).column_letter for i, k in enumerate(keys)}
    for key, options in (("level", "区,镇,村"), ("on_duty", "是,否"), ("coord_system", "wgs84,gcj02,bd09")):
        dv = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
        ws.add_data_validation(dv)
        dv.add(f"{col[key]}2:{col[key]}{MAX_ROWS + 1}")
    for key in ("phone", "town", "village"):
        for r in range(2, 502):
            ws[f"{col[key]}{r}"].number_format = "@"  # text: keeps leading zeros and long codes

    notes = wb.create_sheet("说明 Instructions")
    spreadsheets.append(notes, ["列 Column", "英文列名 English header", "必填 Required", "说明 Notes", "示例 Example"])
    explain = {
        "name": ("委员姓名 / Member's name", "张三"),
        "phone": ("手机号码 / Mobile number", "13800001234"),
        "level": ("区 / 镇 / 村（district / town / village）", "镇"),
        "sector": ("所属界别 / Sector", "农业界"),
        "town": ("镇街名称或代码；镇级、村级委员必填 / Town name or code (town and village members)", "潘黄街道"),
        "village": ("村（社区）名称或代码 / Village name or code", "东徐居委会"),
        "categories": ("12345 分类，用 、 , ; | 分隔；留空表示全部 / Categories; empty = all", "城乡建设、环境保护"),
        "capacity": ("同时承接的最大件数（整数，默认 3）/ Most cases at once", "3"),
        "on_duty": ("是 / 否（默认 是）/ yes or no (default yes)", "是"),
        "lat": ("纬度 / Latitude", "33.3500"),
        "lon": ("经度 / Longitude", "120.1000"),
        "coord_system": ("wgs84（GPS，默认）、gcj02（高德/腾讯）、bd09（百度）", "wgs84"),
    }
    for key in keys:
        zh, en, _ = COLUMNS[key]
        spreadsheets.append(notes, [zh, en, "是 Yes" if key in REQUIRED else "", *explain[key]])
    spreadsheets.append(notes, [])
    spreadsheets.append(
        notes,
        ["全部导入或全部不导入：任何一行有错，都不会创建委员。/ All or nothing: one bad row and none is created."],
    )
    for c in notes[1]:
        c.font = bold
    for letter, width in zip("ABCDE", (12, 18, 12, 70, 20), strict=True):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=2):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")

    regions = wb.create_sheet("区划 Regions")
    spreadsheets.append(regions, ["镇街代码 Town code", "镇街 Town", "村社区代码 Village code", "村社区 Village"])
    for c in regions[1]:
        c.font = bold
    all_regions = session.exec(select(Region).order_by(Region.code)).all()
    towns: dict[str | None, str] = {r.code: r.name for r in all_regions if r.level == "town"}
    for region in all_regions:
        if region.level == "village":
            spreadsheets.append(
                regions, [region.parent_code, towns.get(region.parent_code, ""), region.code, region.name]
            )
    for letter, width in zip("ABCD", (20, 22, 24, 22), strict=True):
        regions.column_dimensions[letter].width = width

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
